// A TCP proxy on loopback between the API and its database, so a drill can make the database unreachable
// the way a network does. `cut()` resets every open connection and refuses new ones (a stopped server, or a
// cut the OS reports). `silence()` is a silent partition: every byte both ways is dropped and nothing is
// closed, so the API's sockets look alive while nothing answers. `restore()` ends either.
import { createServer, connect, type Server, type Socket } from 'node:net'

/** One API connection and the database connection it is forwarded to. */
interface Link {
  api: Socket
  /** None when the API connected during a silence: its connection never reached the database. */
  database?: Socket
  /** Bytes or a close were dropped during a silence: its two ends no longer agree on the stream. */
  broken: boolean
}

export class TcpProxy {
  private server?: Server
  private readonly links = new Set<Link>()
  private silent = false
  /**
   * An armed silence: it begins with the first chunk from the API that `match` accepts, which is dropped too
   * unless `deliver` (then the database gets it, and its answer is what the silence drops).
   */
  private armed?: { match: (chunk: Buffer) => boolean; deliver: boolean; begun: () => void }
  port = 0

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  async start(port = 0): Promise<void> {
    const server = createServer((api) => this.accept(api))
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
    this.server = server
    this.port = (server.address() as { port: number }).port
  }

  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    this.silent = false
    this.armed = undefined
    // The API sees its connections reset, as on a network cut; the database just sees its clients leave.
    for (const link of this.links) this.drop(link)
    if (server) await new Promise((resolve) => server.close(resolve))
  }

  /**
   * Drops every byte from now on, or, with `from`, from the first chunk the API sends that it accepts
   * (a statement caught in flight), or with `deliver` just after it (a statement done, its answer lost).
   * Resolves once the silence has begun.
   */
  silence(from?: (chunk: Buffer) => boolean, { deliver = false } = {}): Promise<void> {
    if (!from) {
      this.silent = true
      return Promise.resolve()
    }
    return new Promise((begun) => { this.armed = { match: from, deliver, begun } })
  }

  /**
   * Ends a cut or a silence. A connection that lost bytes during the silence is reset, as TCP ends one whose
   * peer stopped answering (a stream with a hole cannot go on); the database then ends its session (a
   * transaction left open rolls back). A connection that sent nothing meanwhile carries on.
   */
  async restore(): Promise<void> {
    this.silent = false
    this.armed = undefined
    for (const link of this.links) if (link.broken) this.drop(link)
    if (!this.server) await this.start(this.port)
  }

  async close(): Promise<void> { await this.cut() }

  private accept(api: Socket): void {
    const link: Link = { api, broken: this.silent }
    this.links.add(link)
    if (!this.silent) {
      link.database = connect(this.targetPort, this.targetHost)
      this.forward(link, 'database')
    }
    this.forward(link, 'api')
  }

  /** What `side` sends goes to the other side, unless a silence drops it. */
  private forward(link: Link, side: 'api' | 'database'): void {
    const from = side === 'api' ? link.api : link.database!
    const other = () => side === 'api' ? link.database : link.api
    /** Whether this event is dropped: during a silence, and for good on a link that lost one. */
    const dropped = () => {
      if (this.silent || link.broken) link.broken = true
      return link.broken
    }
    from.on('data', (chunk: Buffer) => {
      if (side === 'api' && this.armed?.match(chunk)) {
        const { deliver, begun } = this.armed
        this.armed = undefined
        if (deliver) link.database?.write(chunk)
        this.silent = true
        link.broken = deliver
        begun()
        if (deliver) return
      }
      const to = other()
      if (dropped() || !to) return
      if (!to.write(chunk)) {
        from.pause()
        to.once('drain', () => from.resume())
      }
    })
    from.on('end', () => { if (!dropped()) other()?.end() })
    // A close during a silence reaches the other end only at restore(), as a reset.
    from.on('close', () => { if (!dropped()) this.drop(link) })
    from.on('error', () => { if (!dropped()) this.drop(link) })
  }

  private drop(link: Link): void {
    this.links.delete(link)
    // Node leaves the handle of a socket ended both ways open for ever if it is reset: that one is just closed.
    if (link.api.readyState === 'open') link.api.resetAndDestroy()
    else link.api.destroy()
    link.database?.destroy()
  }
}
