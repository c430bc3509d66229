// A report's HTML printed to PDF by a headless Chromium (Debian's `chromium`, or any Chrome/Chromium at a
// configured path), in a throwaway profile, with every network request refused: the document is
// self-contained, and printing must never reach out.
import { spawn } from 'node:child_process'
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class PdfPrinterError extends Error {}

/** Where Chromium is looked for when no path is configured, in this order. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']

/** The first candidate that exists and is executable, or undefined. */
export async function findChromium(candidates: readonly string[] = CHROMIUM_CANDIDATES): Promise<string | undefined> {
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK)
      return path
    } catch { /* the next one */ }
  }
  return undefined
}

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions', '--mute-audio',
  // No request leaves the machine, whatever the document holds.
  '--proxy-server=127.0.0.1:9', '--proxy-bypass-list=<-loopback>', '--host-resolver-rules=MAP * ~NOTFOUND',
  '--no-pdf-header-footer', '--print-to-pdf-no-header',
]

/** Chromium's stderr kept for an error message, at most this much. */
const MAX_STDERR = 4000

/**
 * The PDF of `html`. Fails with a message that names what is missing (no Chromium at the path), what
 * Chromium said when it failed, or the time limit it went past.
 */
export async function printPdf(html: string, opts: { chromiumPath: string | undefined; timeoutMs: number; signal?: AbortSignal }): Promise<Uint8Array> {
  const chromium = opts.chromiumPath
  if (!chromium) {
    throw new PdfPrinterError(`PDF reports need Chromium, and none was found (looked at ${CHROMIUM_CANDIDATES.join(', ')}): install it (Debian: apt-get install chromium) or set REPORT_CHROMIUM_PATH; HTML reports work without it`)
  }
  try {
    await access(chromium, constants.X_OK)
  } catch {
    throw new PdfPrinterError(`PDF reports need Chromium, and there is no executable at ${chromium} (REPORT_CHROMIUM_PATH): install it (Debian: apt-get install chromium) or fix the path; HTML reports work without it`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-report-'))
  try {
    const input = join(dir, 'report.html')
    const output = join(dir, 'report.pdf')
    await writeFile(input, html)
    await run(chromium, [...ARGS, `--user-data-dir=${join(dir, 'profile')}`, `--print-to-pdf=${output}`, `file://${input}`], opts)
    const pdf = await readFile(output).catch(() => undefined)
    if (!pdf || pdf.byteLength === 0 || pdf.subarray(0, 5).toString('latin1') !== '%PDF-') throw new PdfPrinterError(`Chromium at ${chromium} exited without writing a PDF`)
    return new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function run(command: string, args: string[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group, so the renderer and GPU helpers it starts go with it on a timeout.
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    let stderr = ''
    let settled = false
    const kill = () => { try { process.kill(-child.pid!, 'SIGKILL') } catch { child.kill('SIGKILL') } }
    const finish = (err?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve()
    }
    const timer = setTimeout(() => { kill(); finish(new PdfPrinterError(`Chromium did not finish printing within ${Math.round(opts.timeoutMs / 1000)} s`)) }, opts.timeoutMs)
    const onAbort = () => { kill(); finish(new PdfPrinterError('printing was stopped')) }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    child.stderr!.on('data', (chunk: Buffer) => { if (stderr.length < MAX_STDERR) stderr += chunk.toString('utf8') })
    child.on('error', (err) => finish(new PdfPrinterError(`Chromium at ${command} could not be started: ${err.message}`)))
    child.on('exit', (code, signal) => {
      if (code === 0) return finish()
      const said = stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' ')
      finish(new PdfPrinterError(`Chromium at ${command} failed (${signal ?? `exit code ${code}`})${said ? `: ${said.slice(0, 500)}` : ''}`))
    })
  })
}
