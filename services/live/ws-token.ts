// Browsers cannot set headers on a WebSocket: the JWT comes in `?token=` or as a Sec-WebSocket-Protocol
// entry. Before Fastify sees the request, the token moves to the Authorization header, so the rate
// limiter and authentication treat it like any bearer token, and it is gone from the URL and the
// protocol list that request logs show.
import type { IncomingMessage } from 'node:http'

/** The subprotocol the server answers; a client sending its token as a protocol offers this one too. */
export const LIVE_SUBPROTOCOL = 'hostpulse'

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export function moveTokenToHeader(req: IncomingMessage, pathPrefix: string): void {
  const url = req.url ?? ''
  if (!url.startsWith(pathPrefix)) return
  let token: string | undefined
  const q = url.indexOf('?')
  if (q >= 0) {
    const params = new URLSearchParams(url.slice(q + 1))
    if (params.has('token')) {
      token = params.get('token') || undefined
      params.delete('token')
      const rest = params.toString()
      req.url = url.slice(0, q) + (rest ? `?${rest}` : '')
    }
  }
  const offered = req.headers['sec-websocket-protocol']
  if (typeof offered === 'string') {
    const protocols = offered.split(',').map((p) => p.trim()).filter(Boolean)
    const jwt = protocols.find((p) => JWT_SHAPE.test(p))
    if (jwt) {
      token ??= jwt
      const rest = protocols.filter((p) => p !== jwt)
      if (rest.length > 0) req.headers['sec-websocket-protocol'] = rest.join(', ')
      else delete req.headers['sec-websocket-protocol']
    }
  }
  if (token && !req.headers.authorization) req.headers.authorization = `Bearer ${token}`
}
