// A TCP proxy on loopback between the API and its database, so a drill can make the database unreachable
// the way a network cut or a stopped server does: `cut()` resets every open connection and refuses new
// ones; `restore()` accepts again on the same port.
import { createServer, connect, type Server, type Socket } from 'node:net'

export class TcpProxy {
  private server?: Server
  /** The API's side of each connection, and the database's. */
  private readonly sockets = new Map<Socket, 'api' | 'database'>()
  port = 0

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost)
      for (const [s, side] of [[client, 'api'], [upstream, 'database']] as const) {
        this.sockets.set(s, side)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
    this.server = server
    this.port = (server.address() as { port: number }).port
  }

  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    // The API sees its connections reset, as on a network cut; the database just sees its clients leave.
    for (const [s, side] of this.sockets) if (side === 'api') s.resetAndDestroy(); else s.destroy()
    this.sockets.clear()
    if (server) await new Promise((resolve) => server.close(resolve))
  }

  restore(): Promise<void> { return this.start(this.port) }

  async close(): Promise<void> { await this.cut() }
}
