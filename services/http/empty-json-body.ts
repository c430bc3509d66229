// A POST with `Content-Type: application/json` and nothing after it has no body; it is not malformed JSON.
// HTTP clients send that header by default (Python requests sessions, fetch wrappers), and Django REST
// Framework, whose APIs two of the faces answer, accepts it for actions without a body (activate, approve,
// logout). A route that needs a body still refuses it, by its schema, with a 400 naming the body.
import type { FastifyInstance } from 'fastify'

export function acceptEmptyJsonBody(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else json(request, body as string, done)
  })
}
