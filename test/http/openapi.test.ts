// /openapi.json is an OpenAPI 3 document listing every /api/v1 route the app registers, generated from
// the route schemas; /docs serves the browsable page.
import t from 'tap'
import { startClient } from '../test-client.ts'
import { listenAppWith } from '../query/query-helpers.ts'

const METHODS = ['get', 'put', 'post', 'delete', 'patch']

/** Every "METHOD /path" from app.printRoutes({ commonPrefix: false }), HEAD left out, :param kept. */
function routesOf(tree: string): Set<string> {
  const out = new Set<string>()
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│├└─\s]*)(\S.*?) \(([A-Z, ]+)\)\s*$/.exec(line)
    if (!m) continue
    const depth = Math.round(m[1].length / 4)
    stack.length = depth
    stack[depth] = m[2]
    const path = stack.join('')
    for (const method of m[3].split(',').map((s) => s.trim())) if (method !== 'HEAD') out.add(`${method} ${path}`)
  }
  return out
}

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')

t.test('OpenAPI document and docs page', async (t) => {
  const api = await startClient(t)
  const { app } = await listenAppWith(t, api, {})
  const res = await api.request('GET', '/openapi.json')
  t.equal(res.status, 200, 'public, no token needed')
  t.match(res.headers.get('content-type') ?? '', /application\/json/)
  const doc = res.body

  t.test('valid-looking OpenAPI 3', async (t) => {
    t.match(doc.openapi, /^3\.\d+\.\d+$/)
    t.type(doc.info?.title, 'string')
    t.type(doc.info?.version, 'string')
    t.type(doc.paths, 'object')
    t.ok(doc.components?.securitySchemes?.bearer, 'bearer auth declared')
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      t.match(path, /^\//, `${path} is absolute`)
      t.notMatch(path, /:/, `${path} uses {param}, not :param`)
      for (const [method, op] of Object.entries<any>(item)) {
        if (!METHODS.includes(method)) continue
        t.ok(op.responses && Object.keys(op.responses).length > 0, `${method.toUpperCase()} ${path} has responses`)
        // Every {param} of the path is declared as a path parameter.
        for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
          t.ok((op.parameters ?? []).some((p: any) => p.in === 'path' && p.name === name && p.required), `${method.toUpperCase()} ${path} declares path parameter ${name}`)
        }
      }
    }
    // Every $ref points inside the document.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1])
    for (const ref of refs) {
      const target = ref.split('/').reduce((o: any, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
      t.ok(target !== undefined, `$ref #/${ref} resolves`)
    }
  })

  t.test('lists every /api/v1 route registered on the app', async (t) => {
    const registered = [...routesOf(app.printRoutes({ commonPrefix: false }))].filter((r) => r.split(' ')[1].startsWith('/api/v1'))
    t.ok(registered.length >= 40, `${registered.length} /api/v1 routes registered`)
    for (const r of ['GET /api/v1/agents/stats', 'PATCH /api/v1/agents/:id', 'GET /api/v1/metrics/compare', 'GET /api/v1/agents/:id/processes', 'DELETE /api/v1/dashboards/:id']) {
      t.ok(registered.includes(r), `the route walk finds ${r}`)
    }
    const documented = new Set<string>()
    for (const [path, item] of Object.entries<any>(doc.paths)) for (const m of Object.keys(item)) if (METHODS.includes(m)) documented.add(`${m.toUpperCase()} ${path}`)
    for (const r of registered) {
      const [method, path] = r.split(' ')
      t.ok(documented.has(`${method} ${toOpenApiPath(path)}`), `documented: ${r}`)
    }
    const extra = [...documented].filter((d) => d.split(' ')[1].startsWith('/api/v1') && !registered.some((r) => `${r.split(' ')[0]} ${toOpenApiPath(r.split(' ')[1])}` === d))
    t.same(extra, [], 'nothing documented that is not served')
  })

  t.test('the query API documents its parameters', async (t) => {
    for (const path of ['/api/v1/metrics/range/{agent_id}', '/api/v1/metrics/disk/{agent_id}', '/api/v1/metrics/network/{agent_id}']) {
      const names = (doc.paths[path]?.get?.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name).sort()
      t.same(names, ['cursor', 'end', 'limit', 'start'], `${path}: start, end, limit, cursor`)
    }
    const processNames = (doc.paths['/api/v1/metrics/process/{agent_id}']?.get?.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name).sort()
    t.same(processNames, ['end', 'limit', 'start'], 'process listing: start, end, limit (each snapshot ranked, no cursor)')
    const series = (doc.paths['/api/v1/metrics/series/{agent_id}']?.get?.parameters ?? []).map((p: any) => p.name)
    for (const n of ['metric', 'start', 'end', 'step', 'agg', 'max_points']) t.ok(series.includes(n), `series documents ${n}`)
    const agents = (doc.paths['/api/v1/agents']?.get?.parameters ?? []).map((p: any) => p.name).sort()
    t.same(agents, ['limit', 'offset', 'status'])
    t.ok(doc.paths['/api/v1/dashboards']?.post?.requestBody, 'dashboard body documented')
    t.ok(doc.paths['/api/v1/agents/{id}']?.patch?.requestBody, 'agent update body documented')
  })

  t.test('the query API routes document their responses (issue 4: params, querystring, body, responses)', async (t) => {
    const query = Object.entries<any>(doc.paths).filter(([p]) => /^\/api\/v1\/(metrics|processes|dashboards|agents(\/stats|\/\{id\}(\/processes)?)?$)/.test(p))
    t.ok(query.length >= 12)
    const undocumented: string[] = []
    for (const [path, item] of query) {
      for (const [method, op] of Object.entries<any>(item)) {
        if (!METHODS.includes(method)) continue
        const described = Object.values<any>(op.responses ?? {}).some((r) => r.content || r.description !== 'Default Response')
        if (!described) undocumented.push(`${method.toUpperCase()} ${path}`)
      }
    }
    t.same(undocumented, [], `operations whose answer has no schema (${undocumented.length})`)
  })

  t.test('/docs answers 200 with an HTML page', async (t) => {
    const page = await fetch(`${api.url}/docs`)
    t.equal(page.status, 200)
    t.match(page.headers.get('content-type') ?? '', /text\/html/)
    const html = await page.text()
    t.match(html, /<html/i)
    t.match(html, /swagger/i)
    const json = await api.request('GET', '/docs/json')
    t.equal(json.status, 200, 'the page reads the same document')
    t.same(Object.keys(json.body.paths).sort(), Object.keys(doc.paths).sort())
    t.match(html, /<title>hostpulse API<\/title>/, 'branded hostpulse, not Swagger UI')
    t.match(html, /href="[^"]*theme\/icon\.svg"/, 'with hostpulse\'s icon')
    // Swagger UI's bundle applies inline styles: only this page allows them; scripts stay 'self' everywhere.
    t.match(page.headers.get('content-security-policy') ?? '', /style-src 'self' 'unsafe-inline';/)
    t.match(page.headers.get('content-security-policy') ?? '', /script-src 'self';/)
    const app = await fetch(`${api.url}/`)
    t.match(app.headers.get('content-security-policy') ?? '', /style-src 'self';/, 'the web page\'s CSP stays strict')
  })

  t.test('public routes carry no lock; every route has a tag; the description shows <token>', async (t) => {
    const op = (path: string, method: string) => doc.paths[path]?.[method]
    for (const [path, method] of [['/api/v1/auth/login', 'post'], ['/health', 'get'], ['/ready', 'get']]) {
      t.same(op(path, method)?.security, [], `${method.toUpperCase()} ${path} is public: no lock`)
    }
    t.equal(op('/api/v1/agents', 'get')?.security, undefined, 'an authenticated route keeps the document\'s bearer default')
    const untagged: string[] = []
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, o] of Object.entries<any>(item)) if (!o.tags?.length || o.tags.includes('default')) untagged.push(`${method} ${path}`)
    }
    t.same(untagged, [], 'no route under "default"')
    t.match(doc.info.description, /`Authorization: Bearer <token>`/, 'in code, so Markdown shows <token> instead of swallowing it as HTML')
  })
})
