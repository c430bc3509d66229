// GET / and /assets/<version>/<file>: public (no token), the right content types, index.html revalidated
// on every load and assets cached for a year under a content-hash version, gzip when asked, and a page
// the API's CSP lets run (external scripts and styles only).
import t from 'tap'
import { gunzipSync } from 'node:zlib'
import { readFile } from 'node:fs/promises'
import { startClient } from '../test-client.ts'

t.test('web page routes', async (t) => {
  const api = await startClient(t)
  const index = await fetch(`${api.url}/`)
  const html = await index.text()

  t.test('index.html: public, HTML, never served from cache without revalidation', async (t) => {
    t.equal(index.status, 200)
    t.match(index.headers.get('content-type'), /^text\/html; charset=utf-8/)
    t.equal(index.headers.get('cache-control'), 'no-cache')
    t.ok(index.headers.get('etag'), 'has an etag')
    const csp = index.headers.get('content-security-policy') ?? ''
    t.match(csp, /script-src 'self'/, 'CSP allows same-origin scripts only')
    t.notMatch(csp, /unsafe-inline/, 'no inline scripts or styles allowed')
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline <script>')
    t.notMatch(html, /\sstyle=|<style/i, 'no inline styles')
    t.notMatch(html, /__ASSETS__/, 'asset base filled in')
    const again = await fetch(`${api.url}/`, { headers: { 'if-none-match': index.headers.get('etag')! } })
    t.equal(again.status, 304, 'a matching etag answers 304')
  })

  const assetUrls = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])
  const version = /\/assets\/([0-9a-f]{12})\//.exec(assetUrls[0] ?? '')?.[1]

  t.test('assets: versioned by content, long cache, right types, no login needed', async (t) => {
    t.ok(version, `assets are under /assets/<version>/ (${version})`)
    t.ok(assetUrls.some((u) => u.endsWith('/app.js')) && assetUrls.some((u) => u.endsWith('/uPlot.min.css')), 'index names app.js and uPlot\'s css')
    for (const name of ['app.js', 'session.js', 'host.js', 'process-tree.js', 'style.css', 'uPlot.esm.js', 'uPlot.min.css', 'icon.svg']) {
      const res = await fetch(`${api.url}/assets/${version}/${name}`, { headers: { 'accept-encoding': 'identity' } })
      t.equal(res.status, 200, `${name} 200 without a token`)
      t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', `${name} cached for a year`)
      const type = name.endsWith('.js') ? 'text/javascript' : name.endsWith('.css') ? 'text/css' : 'image/svg+xml'
      t.match(res.headers.get('content-type'), new RegExp(`^${type.replace('+', '\\+')}`), `${name} is ${type}`)
      t.ok((await res.arrayBuffer()).byteLength > 100, `${name} has content`)
    }
    const uplot = await readFile(new URL('../../node_modules/uplot/dist/uPlot.esm.js', import.meta.url))
    const served = Buffer.from(await (await fetch(`${api.url}/assets/${version}/uPlot.esm.js`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer())
    t.ok(served.equals(uplot), 'uPlot is the installed package\'s build')
  })

  t.test('gzip when the client accepts it', async (t) => {
    const res = await fetch(`${api.url}/assets/${version}/uPlot.esm.js`, { headers: { 'accept-encoding': 'gzip' } })
    // fetch decompresses by itself; the header tells what went over the wire.
    t.equal(res.headers.get('content-encoding'), 'gzip')
    t.equal(res.headers.get('vary'), 'accept-encoding')
    const raw = await import('node:http').then(({ get }) => new Promise<Buffer>((resolve, reject) => {
      get(`${api.url}/assets/${version}/app.js`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
        const chunks: Buffer[] = []
        r.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject)
      }).on('error', reject)
    }))
    t.match(gunzipSync(raw).toString(), /import/, 'the gzip body is app.js')
  })

  t.test('unknown files and other versions are 404 in the error format, never cached', async (t) => {
    for (const path of [`/assets/${version}/nope.js`, '/assets/000000000000/app.js', `/assets/${version}/..%2Fweb-routes.ts`,
      `/assets/${version}/index.html`, '/assets/app.js', '/index.html']) {
      const res = await fetch(api.url + path)
      t.equal(res.status, 404, `${path} → 404`)
      const body = await res.json() as { error: string; code: number }
      t.same({ error: body.error, code: body.code }, { error: 'NOT_FOUND', code: 404 }, `${path} error format`)
      t.not(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', `${path} not cached for long`)
    }
  })

  t.test('what the page fetches still needs a login', async (t) => {
    t.equal((await fetch(`${api.url}/api/v1/agents`)).status, 401)
  })
})
