// A request that matches no route can fail before its 404: a body the 404 route cannot parse (found by the
// fuzzer: `Content-Type: json` on a seed 003 path). It answers in the format of its path, as its 404 does:
// DRF's on seeds 001/003 paths, seed 000's on its paths, the native one elsewhere.
import t from 'tap'
import { startClient } from '../test-client.ts'
import { errorFormatOf, isRouteError } from '../security/security-helpers.ts'

t.test('errors of unmatched routes are in their path\'s format', async (t) => {
  const api = await startClient(t)
  const cases: Array<[string, string]> = [
    ['/api/agents/activate/', 'drf'],
    ['/api/hosts/a/b/c/d/', 'seed000'],
    ['/api/v1/nothing-here', 'native'],
  ]
  for (const [path, format] of cases) {
    t.equal(errorFormatOf(path), format, `${path} is a ${format} path`)
    const bad = await api.req('POST', path, { rawBody: '[]', headers: { 'content-type': 'json' }, token: api.adminToken })
    t.equal(bad.status, 415, `${path} with an unparsable content type: ${bad.text}`)
    t.ok(isRouteError(path, bad.body), `${path}: the 415 is in the ${format} format (${bad.text})`)
    const missing = await api.req('POST', path, { body: [], token: api.adminToken })
    t.equal(missing.status, 404)
    t.ok(isRouteError(path, missing.body), `${path}: the 404 is in the ${format} format too`)
  }
})
