// A request refused before its body was read (413 for a body over the limit, or any error answered while the
// client is still sending) is answered with `Connection: close`. Node then closes the socket as soon as the
// answer is written, with the rest of the body unread in the kernel's buffer; closing a socket with unread
// data sends a TCP reset, and a reset that reaches the client before it read the answer makes its kernel
// drop the answer too: the client sees "connection reset" instead of the 413 (seen in the floods drill).
// As nginx's lingering close does, such a connection is half-closed after the answer and the rest of the body
// read and discarded until the client closes its side, for at most LINGER_MS.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Socket } from 'node:net'

/** Longest a refused request's connection is kept reading after its answer (nginx: lingering_timeout 5 s). */
export const LINGER_MS = 5_000

function lingerOnClose(socket: Socket): void {
  // Node's HTTP server calls destroySoon() once the answer of a closing connection is written.
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    if (this.writable) this.end()
    const timer = setTimeout(() => this.destroy(), LINGER_MS)
    timer.unref()
    this.once('end', () => this.destroy())
    this.once('close', () => clearTimeout(timer))
    // The HTTP parser still takes the body's bytes and the dumped request discards them.
    this.resume()
  }
}

export function lingeringClose(app: FastifyInstance): void {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const socket = request.raw.socket as Socket | null
    if (socket && !request.raw.complete && String(reply.getHeader('connection')).toLowerCase() === 'close') lingerOnClose(socket)
    return payload
  })
}
