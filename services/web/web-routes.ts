// The web page at `/`: index.html (revalidated on every load) and its assets under /assets/<version>/,
// cached for a year because <version> is a hash of their contents. Neither holds data, so neither needs
// a login; everything the page fetches does.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ApiError } from '../http/errors.ts'

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url))
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot'))
/** uPlot's browser build and its stylesheet, served next to the page's own assets. */
const VENDOR_FILES = [join(UPLOT_DIST, 'uPlot.esm.js'), join(UPLOT_DIST, 'uPlot.min.css')]

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
}
const LONG_CACHE = 'public, max-age=31536000, immutable'
/** Where index.html names its assets; replaced by /assets/<version> at start. */
const ASSET_BASE_MARK = /__ASSETS__/g

interface WebFile { body: Buffer; gzipped: Buffer | null; type: string; etag: string }

function webFile(body: Buffer, type: string): WebFile {
  const gzipped = gzipSync(body, { level: 9 })
  return {
    body, type,
    // Only worth it when the saving is real (the icon stays plain).
    gzipped: gzipped.length < body.length * 0.9 ? gzipped : null,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  }
}

/** Reads the page and its assets once: they are small and only change with a release. */
export async function loadWebFiles(): Promise<{ version: string; index: WebFile; assets: Map<string, WebFile> }> {
  const names = (await readdir(PUBLIC_DIR)).filter((n) => n !== 'index.html' && CONTENT_TYPES[extname(n)]).sort()
  const sources = [...names.map((n) => join(PUBLIC_DIR, n)), ...VENDOR_FILES]
  const hash = createHash('sha256')
  const raw = new Map<string, Buffer>()
  for (const path of sources) {
    const name = path.slice(path.lastIndexOf('/') + 1)
    if (raw.has(name)) throw new Error(`web asset ${name} exists twice (public/ and uPlot's dist)`)
    const body = await readFile(path)
    raw.set(name, body)
    hash.update(name).update('\0').update(body)
  }
  const version = hash.digest('hex').slice(0, 12)
  const assets = new Map([...raw].map(([name, body]) => [name, webFile(body, CONTENT_TYPES[extname(name)])]))
  const html = (await readFile(join(PUBLIC_DIR, 'index.html'), 'utf8')).replace(ASSET_BASE_MARK, `/assets/${version}`)
  return { version, index: webFile(Buffer.from(html), CONTENT_TYPES['.html']), assets }
}

function send(request: FastifyRequest, reply: FastifyReply, file: WebFile, cacheControl: string) {
  void reply.header('content-type', file.type).header('cache-control', cacheControl).header('etag', file.etag).header('vary', 'accept-encoding')
  if (request.headers['if-none-match'] === file.etag) return reply.status(304).send()
  const gzipOk = file.gzipped !== null && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))
  if (gzipOk) void reply.header('content-encoding', 'gzip')
  return reply.send(gzipOk ? file.gzipped : file.body)
}

export const webRoutes: FastifyPluginAsync = async (app) => {
  const { version, index, assets } = await loadWebFiles()

  app.get('/', { schema: { hide: true } }, (request, reply) => send(request, reply, index, 'no-cache'))

  app.get('/assets/:version/:file', {
    schema: {
      hide: true,
      params: Type.Object({ version: Type.String({ maxLength: 64 }), file: Type.String({ maxLength: 128 }) }),
    },
  }, (request, reply) => {
    const { version: asked, file } = request.params as { version: string; file: string }
    const asset = assets.get(file)
    // Another version's URL must not be cached for a year with this version's bytes.
    if (!asset || asked !== version) throw new ApiError('NOT_FOUND', `No asset ${file} in version ${asked} (the page is at /)`)
    return send(request, reply, asset, LONG_CACHE)
  })
}
