// Log shipping in the agent: a real temp file followed through appends, a half-written line, rotation
// (also while the agent is stopped), truncation and restarts, nothing lost or sent twice; a fake
// `journalctl` on PATH proving one child for many collections, a restart with backoff after it dies,
// and the bounded queue; the per-collection cap; the flags; and the real agent CLI shipping a file's lines
// to a real server, read back from GET /api/v1/logs.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFile, chmod, copyFile, readFile, rename, truncate, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { LogCollector, type LogCollectorOptions } from '../../agent/logs/log-collector.ts'
import { guessLevel, storableText } from '../../agent/logs/log-line.ts'
import { journalEntry } from '../../agent/logs/journal.ts'
import { parseCliOptions, UsageError } from '../../agent/cli-options.ts'
import type { LogItem } from '../../contract/ingest-batch.ts'
import { waitFor } from '../wait-for.ts'
import { startClient } from '../test-client.ts'
import { logRecorder, tempDir } from './ingest-server.ts'

const messages = (items: LogItem[]) => items.map((i) => i.message)

/** A collector closed at teardown. */
async function openCollector(t: Test, opts: LogCollectorOptions): Promise<LogCollector> {
  const collector = await LogCollector.open(opts)
  t.teardown(() => collector.close())
  return collector
}

t.test('a log line as the contract takes it', async (t) => {
  t.equal(guessLevel('2024-01-01 12:00:00 ERROR disk failed'), 'error')
  t.equal(guessLevel('[warn] low memory'), 'warning')
  t.equal(guessLevel('INFO retrying after error'), 'info', 'the first level word decides')
  t.equal(guessLevel('kernel panic - not syncing'), 'critical')
  t.equal(guessLevel('FATAL: the database system is shutting down'), 'critical')
  t.equal(guessLevel('DEBUG cache hit'), 'debug')
  t.equal(guessLevel('notice: something'), 'notice')
  t.equal(guessLevel('GET /index.html 200'), 'info', 'no level word: info')
  t.equal(guessLevel('NullPointerException thrown'), 'info', 'a level word must stand alone')
  t.equal(storableText('a\u0000b'), 'ab', 'NUL removed')
  t.equal(storableText('x\ud800y'), 'x\ufffdy', 'a lone surrogate replaced')
  const long = 'é'.repeat(10) + '😀'.repeat(20_000)
  const cut = storableText(long)
  t.ok(cut.length <= 16_384)
  t.notMatch(cut.slice(-1), /[\ud800-\udbff]/, 'a surrogate pair is never cut in half')
})

t.test('a journal entry as a log item', async (t) => {
  const now = Date.parse('2026-01-10T12:00:00Z')
  const at = (iso: string) => String(Date.parse(iso) * 1000 + 123)
  const entry = (e: Record<string, unknown>) => journalEntry(JSON.stringify({ __CURSOR: 's=1;i=2', __REALTIME_TIMESTAMP: at('2026-01-10T11:59:00Z'), ...e }), now)
  const levels = [0, 1, 2, 3, 4, 5, 6, 7].map((p) => entry({ PRIORITY: String(p), MESSAGE: 'm' })?.item.level)
  t.same(levels, ['critical', 'critical', 'critical', 'error', 'warning', 'notice', 'info', 'debug'], 'PRIORITY 0-7')
  t.same(entry({ MESSAGE: 'Accepted publickey', PRIORITY: '6', SYSLOG_IDENTIFIER: 'sshd', _SYSTEMD_UNIT: 'ssh.service', _PID: '812' }), {
    item: { source: 'sshd', level: 'info', message: 'Accepted publickey', fields: { unit: 'ssh.service', pid: 812 }, time: '2026-01-10T11:59:00.000Z' },
    cursor: 's=1;i=2',
  })
  t.equal(entry({ MESSAGE: 'm', _SYSTEMD_UNIT: 'cron.service' })?.item.source, 'cron.service', 'the unit when there is no identifier')
  t.equal(entry({ MESSAGE: 'm' })?.item.level, 'info', 'no PRIORITY: info')
  t.equal(entry({ MESSAGE: [104, 105, 0, 255] })?.item.message, 'hi\ufffd', 'a binary MESSAGE (byte array), NUL dropped')
  const old = entry({ MESSAGE: 'm', __REALTIME_TIMESTAMP: at('2026-01-08T00:00:00Z') })!.item
  t.equal(old.time, undefined, 'an entry older than a day takes its batch\'s time (the server refuses items a day away)')
  t.equal(old.fields?.journal_time, '2026-01-08T00:00:00.000Z', 'and keeps its own in fields')
  t.equal(journalEntry('not json'), undefined)
  t.equal(journalEntry('{"__CURSOR":"x"}'), undefined, 'no MESSAGE: not an entry')
})

t.test('a file followed through appends, a half line, rotation, truncation and restarts', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'app.log')
  const stateFile = join(dir, 'log-positions.json')
  await writeFile(path, 'before the agent 1\nbefore the agent 2\n')
  const opts: LogCollectorOptions = { files: [path], journal: false, stateFile }
  const written: string[] = []
  const shipped: string[] = []
  const write = async (file: string, ...lines: string[]) => { await appendFile(file, lines.map((l) => `${l}\n`).join('')); written.push(...lines) }
  const drain = async (c: LogCollector) => {
    const items = await c.drain()
    await c.commit()
    shipped.push(...messages(items))
    return items
  }

  let c = await LogCollector.open(opts)
  t.same(await drain(c), [], 'the first start tails from the end: older lines are not sent')
  await write(path, 'GET / 200', 'ERROR upstream timed out', 'WARN slow query')
  const items = await drain(c)
  t.same(items.map((i) => [i.message, i.level, i.source]), [
    ['GET / 200', 'info', path], ['ERROR upstream timed out', 'error', path], ['WARN slow query', 'warning', path],
  ], 'new lines, oldest first, a level guessed, the path as source')
  t.same(await drain(c), [], 'nothing twice')

  await appendFile(path, 'half a li')
  t.same(await drain(c), [], 'a line without its newline waits')
  await appendFile(path, 'ne\n')
  written.push('half a line')
  t.same(messages(await drain(c)), ['half a line'])

  // logrotate: renamed away, the writer finishes its last lines in the old file, a new file appears.
  await write(path, 'before rotation')
  await rename(path, `${path}.1`)
  await write(`${path}.1`, 'late write to the rotated file')
  await write(path, 'first line of the new file')
  t.same(messages(await drain(c)), ['before rotation', 'late write to the rotated file', 'first line of the new file'], 'the old file to its end, then the new one')

  // copytruncate: the same file emptied and written again.
  await truncate(path, 0)
  await write(path, 'after truncation')
  t.same(messages(await drain(c)), ['after truncation'])

  // Stopped; meanwhile lines are written, the file is rotated and a new one started.
  await c.close()
  await write(path, 'while stopped 1')
  await rename(path, `${path}.2`)
  await write(`${path}.2`, 'while stopped 2')
  await write(path, 'new file while stopped')
  c = await LogCollector.open(opts)
  t.same(messages(await drain(c)), ['while stopped 1', 'while stopped 2', 'new file while stopped'], 'resumed in the rotated file, then the new one')

  // A batch that never reached the disk (crash before commit): its lines are read again from the saved position.
  await appendFile(path, 'in a lost batch\n')
  const saved = join(dir, 'saved-positions.json')
  await copyFile(stateFile, saved)
  t.same(messages(await c.drain()), ['in a lost batch'])
  await c.close()
  const afterCrash = await LogCollector.open({ ...opts, stateFile: saved })
  t.same(messages(await afterCrash.drain()), ['in a lost batch'], 'an uncommitted drain is read again')
  await afterCrash.close()
  t.same(shipped, written, 'every line written after the first start, once, in order')
})

t.test('a file that appears after the start is read from its beginning', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'later.log')
  const log = logRecorder()
  const c = await openCollector(t, { files: [path], journal: false, stateFile: join(dir, 'state.json'), log: log.log })
  t.same(await c.drain(), [])
  t.match(log.lines.join('\n'), /later\.log does not exist yet/)
  await writeFile(path, 'one\ntwo\n')
  t.same(messages(await c.drain()), ['one', 'two'])
})

t.test('the per-collection cap: lines and bytes wait for the next collection', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'storm.log')
  await writeFile(path, '')
  const c = await openCollector(t, { files: [path], journal: false })
  await appendFile(path, Array.from({ length: 2500 }, (_, i) => `line ${i}\n`).join(''))
  const sizes: number[] = []
  const all: string[] = []
  for (let i = 0; i < 4; i++) {
    const items = await c.drain()
    sizes.push(items.length)
    all.push(...messages(items))
  }
  t.same(sizes, [1000, 1000, 500, 0], '1000 lines per collection by default')
  t.same(all, Array.from({ length: 2500 }, (_, i) => `line ${i}`), 'in order, none lost')

  const wide = join(dir, 'wide.log')
  await writeFile(wide, '')
  const byBytes = await openCollector(t, { files: [wide], journal: false, maxBytes: 16 * 1024 })
  await appendFile(wide, Array.from({ length: 40 }, (_, i) => `${String(i).padStart(3, '0')} ${'x'.repeat(1020)}\n`).join(''))
  const first = await byBytes.drain()
  t.equal(first.length, 16, '16 lines of 1 KiB fill 16 KiB')
  t.equal((await byBytes.drain())[0].message.slice(0, 3), '016', 'the next collection continues where the cap stopped')

  const long = join(dir, 'long.log')
  await writeFile(long, '')
  const longLines = await openCollector(t, { files: [long], journal: false })
  await appendFile(long, `${'y'.repeat(100_000)}\nshort\n`)
  const pieces = await longLines.drain()
  t.ok(pieces.every((p) => p.message.length <= 16_384), 'a 100 kB line is shipped in pieces within the contract')
  t.equal(pieces.at(-1)?.message, 'short')
})

t.test('the journal through a fake journalctl on PATH', async (t) => {
  const bin = await tempDir(t)
  // Records each start (pid and arguments), then streams journal-<start number>.jsonl like `journalctl --follow`;
  // with a `die` file it prints two entries and exits instead.
  await writeFile(join(bin, 'journalctl'), `#!/bin/sh
echo "$$ $*" >> "$FAKE_JOURNAL_DIR/starts"
n=$(wc -l < "$FAKE_JOURNAL_DIR/starts")
touch "$FAKE_JOURNAL_DIR/journal-$n.jsonl"
if [ -f "$FAKE_JOURNAL_DIR/die" ]; then head -n 2 "$FAKE_JOURNAL_DIR/journal-$n.jsonl"; exit 3; fi
exec tail -n +1 -f "$FAKE_JOURNAL_DIR/journal-$n.jsonl"
`)
  await chmod(join(bin, 'journalctl'), 0o755)
  const savedPath = process.env.PATH
  process.env.PATH = `${bin}:${savedPath}`
  t.teardown(() => { process.env.PATH = savedPath; delete process.env.FAKE_JOURNAL_DIR })
  const now = Date.now()
  const entry = (n: number, extra: Record<string, unknown> = {}) => `${JSON.stringify({
    __CURSOR: `cursor-${n}`, __REALTIME_TIMESTAMP: String((now + n) * 1000), PRIORITY: '6', SYSLOG_IDENTIFIER: 'app', MESSAGE: `entry ${n}`, ...extra,
  })}\n`
  const starts = async (dir: string) => (await readFile(join(dir, 'starts'), 'utf8').catch(() => '')).split('\n').filter(Boolean)
  const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

  t.test('one journalctl for many collections; a restarted agent continues after the last entry shipped', async (t) => {
    const dir = await tempDir(t)
    process.env.FAKE_JOURNAL_DIR = dir
    await writeFile(join(dir, 'journal-1.jsonl'), entry(1, { PRIORITY: '3', SYSLOG_IDENTIFIER: 'sshd' }) + entry(2, { SYSLOG_IDENTIFIER: undefined, _SYSTEMD_UNIT: 'cron.service' }) + entry(3, { PRIORITY: '0' }))
    const stateFile = join(dir, 'state.json')
    const c = await LogCollector.open({ files: [], stateFile })
    const journal = c.journal!
    t.ok(journal, 'journalctl found on PATH')
    await waitFor('three entries', () => journal.received >= 3)
    const first = await c.drain()
    t.same(first.map((i) => [i.message, i.level, i.source]), [['entry 1', 'error', 'sshd'], ['entry 2', 'info', 'cron.service'], ['entry 3', 'critical', 'app']])
    const shipped = messages(first)
    for (let n = 4; n <= 13; n++) {
      await appendFile(join(dir, 'journal-1.jsonl'), entry(n))
      await waitFor(`entry ${n}`, () => journal.received >= n)
      shipped.push(...messages(await c.drain()))
      await c.commit()
    }
    t.same(shipped, Array.from({ length: 13 }, (_, i) => `entry ${i + 1}`), 'every entry once')
    const lines = await starts(dir)
    t.equal(lines.length, 1, 'eleven collections, one journalctl process')
    t.equal(journal.starts, 1)
    t.match(lines[0], /--follow --output=json .*--lines=0/, 'the first start follows from now on')
    const pid = journal.pid!
    t.ok(alive(pid))
    await c.close()
    t.notOk(alive(pid), 'closing the collector ends journalctl')
    t.match(JSON.parse(await readFile(stateFile, 'utf8')), { journal_cursor: 'cursor-13' })

    const again = await LogCollector.open({ files: [], stateFile })
    await waitFor('the second start', async () => (await starts(dir)).length === 2)
    t.match((await starts(dir))[1], /--after-cursor=cursor-13 --no-tail/, 'a restarted agent continues after the last entry shipped')
    await again.close()
  })

  t.test('a journalctl that dies is started again with backoff, after the last entry it gave', async (t) => {
    const dir = await tempDir(t)
    process.env.FAKE_JOURNAL_DIR = dir
    await writeFile(join(dir, 'die'), '')
    await writeFile(join(dir, 'journal-1.jsonl'), entry(1) + entry(2))
    await writeFile(join(dir, 'journal-2.jsonl'), entry(3) + entry(4))
    const log = logRecorder()
    const c = await openCollector(t, { files: [], log: log.log, journalRestartMs: 50 })
    await waitFor('four entries from two journalctl runs', () => c.journal!.received >= 4)
    const lines = await starts(dir)
    t.ok(lines.length >= 2)
    t.match(lines[1], /--after-cursor=cursor-2/, 'started again after the last entry received')
    t.same(messages(await c.drain()), ['entry 1', 'entry 2', 'entry 3', 'entry 4'], 'nothing lost, nothing twice')
    t.match(log.lines.join('\n'), /journalctl exited with code 3; starting it again in 0\.1 s/, 'the restart is logged, the wait doubling')
  })

  t.test('a bounded queue: the oldest entries go, and a warning line says how many', async (t) => {
    const dir = await tempDir(t)
    process.env.FAKE_JOURNAL_DIR = dir
    await writeFile(join(dir, 'journal-1.jsonl'), Array.from({ length: 50 }, (_, i) => entry(i + 1)).join(''))
    const log = logRecorder()
    const c = await openCollector(t, { files: [], maxLines: 2, log: log.log })
    await waitFor('fifty entries', () => c.journal!.received >= 50)
    const first = await c.drain()
    t.equal(first.length, 2, 'the warning counts within the cap')
    t.match(first[0], { source: 'hostpulse-agent', level: 'warning', fields: { dropped: 30 } })
    t.match(first[0].message, /^dropped 30 journal lines/)
    t.equal(first[1].message, 'entry 31', 'the queue kept the newest 20 (ten collections of 2)')
    const rest: string[] = []
    for (let i = 0; i < 10; i++) rest.push(...messages(await c.drain()))
    t.same(rest, Array.from({ length: 19 }, (_, i) => `entry ${i + 32}`))
    t.match(log.lines.join('\n'), /warn dropped 30 journal lines/)
  })

  t.test('--no-journal: no journalctl is started', async (t) => {
    const dir = await tempDir(t)
    process.env.FAKE_JOURNAL_DIR = dir
    const c = await openCollector(t, { files: [], journal: false })
    t.equal(c.journal, undefined)
    t.same(await starts(dir), [])
  })
})

t.test('flags, environment and config file', async (t) => {
  const base = ['--server', 'http://127.0.0.1:1', '--api-key', 'k']
  const run = (args: string[], env: Record<string, string> = {}) => {
    const cmd = parseCliOptions([...base, ...args], env)
    if (cmd.kind !== 'run') throw new Error('not a run')
    return cmd.logs
  }
  t.same(run([]), { files: [], journal: true, maxLines: 1000, maxBytes: 256 * 1024 }, 'defaults: the journal, no files')
  t.same(run(['--log-file', '/var/log/a.log', '--log-file', '/var/log/b.log', '--no-journal']).files, ['/var/log/a.log', '/var/log/b.log'])
  t.equal(run(['--no-journal']).journal, false)
  t.same(run([], { HOSTPULSE_LOG_FILES: '/var/log/a.log, /var/log/b.log', HOSTPULSE_LOG_JOURNAL: 'false' }), { files: ['/var/log/a.log', '/var/log/b.log'], journal: false, maxLines: 1000, maxBytes: 256 * 1024 })
  t.same(run(['--log-file', '/x.log'], { HOSTPULSE_LOG_FILES: '/y.log' }).files, ['/x.log'], 'the flag wins')
  t.same(run(['--log-max-lines', '50', '--log-max-bytes', '64KiB']), { files: [], journal: true, maxLines: 50, maxBytes: 65536 })
  const dir = await tempDir(t)
  await writeFile(join(dir, 'agent.env'), 'HOSTPULSE_LOG_FILES=/var/log/syslog\nHOSTPULSE_LOG_MAX_LINES=10\n')
  t.match(run(['--config', join(dir, 'agent.env')]), { files: ['/var/log/syslog'], maxLines: 10 }, 'the config file')
  for (const [args, env, message] of [
    [['--log-max-lines', '0'], {}, /log max lines "0" is not a whole number from 1 to 5000/],
    [['--log-max-lines', '6000'], {}, /from 1 to 5000/],
    [['--log-max-bytes', '1k'], {}, /outside 16KiB\.\.16MiB/],
    [[], { HOSTPULSE_LOG_JOURNAL: 'maybe' }, /HOSTPULSE_LOG_JOURNAL "maybe" is not true or false/],
  ] as Array<[string[], Record<string, string>, RegExp]>) {
    let err: unknown
    try { run(args, env) } catch (e) { err = e }
    t.ok(err instanceof UsageError, `${args.join(' ')} is a usage error`)
    t.match((err as Error | undefined)?.message, message)
  }
})

t.test('end to end: the agent CLI ships a file\'s lines to a real server, across a restart', { timeout: 120_000 }, async (t) => {
  const api = await startClient(t)
  const agent = await api.createAgent('log-host')
  const dir = await tempDir(t)
  const path = join(dir, 'service.log')
  await writeFile(path, 'written before the agent ever ran\n')
  const bin = fileURLToPath(new URL('../../agent/bin.js', import.meta.url))
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOSTPULSE_')))
  const runAgent = (): ChildProcess => {
    const child = spawn(process.execPath, [bin, '--server', api.url, '--interval', '1s', '--data-dir', join(dir, 'data'), '--log-file', path, '--no-journal'],
      { env: { ...cleanEnv, HOSTPULSE_API_KEY: agent.api_key }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('exit', (code) => { if (code) t.comment(`agent exited ${code}: ${stderr}`) })
    return child
  }
  const stop = async (child: ChildProcess) => {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  const shipped = async () => {
    const res = await api.get(`/api/v1/logs?agent=log-host&source=${encodeURIComponent(path)}&limit=1000`)
    return (res.body.logs as Array<{ message: string; level: string }>).map((l) => l.message).reverse()
  }

  let child = runAgent()
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  // The agent tails from the end: a line written once it runs (its first batch arrived) is shipped.
  await waitFor('the agent\'s first batch', async () => (await api.get('/api/v1/agents/log-host')).body.last_metrics_at !== null, 60_000)
  await appendFile(path, 'GET /health 200\nERROR payment service unreachable\n')
  await waitFor('two lines on the server', async () => (await shipped()).length >= 2, 30_000)
  const res = await api.get('/api/v1/logs?agent=log-host&level=error')
  t.same(res.body.logs.map((l: any) => [l.message, l.level, l.source, l.agent_name]), [['ERROR payment service unreachable', 'error', path, 'log-host']])
  await stop(child)

  await appendFile(path, 'written while the agent was stopped\n')
  child = runAgent()
  await waitFor('the line written while stopped', async () => (await shipped()).includes('written while the agent was stopped'), 60_000)
  await appendFile(path, 'after the restart\n')
  await waitFor('the line after the restart', async () => (await shipped()).includes('after the restart'), 30_000)
  await stop(child)
  t.same(await shipped(), ['GET /health 200', 'ERROR payment service unreachable', 'written while the agent was stopped', 'after the restart'],
    'every line once; the one from before the first start never')
  // The same lines through seed 003's face: GET /api/logs/ of the agent's integer id, newest first.
  const number = (await api.get('/api/agents/')).body.results.find((a: { name: string }) => a.name === 'log-host').id
  const seed = await api.get(`/api/logs/?agent_id=${number}&page_size=500`)
  t.equal(seed.status, 200)
  t.same(seed.body.results.filter((l: { source: string }) => l.source === path).map((l: { message: string }) => l.message).reverse(),
    ['GET /health 200', 'ERROR payment service unreachable', 'written while the agent was stopped', 'after the restart'], 'seed 003 shows the shipped lines')
})
