// Live view: WS /ws/metrics/:agent_id (seed 001) and WS /ws/live (the fleet page). Authenticated like
// REST before the upgrade; pushed on ingest; bounded per client; across API instances through the
// database's LISTEN/NOTIFY when `listen` is on.
import fp from 'fastify-plugin'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { Type } from 'typebox'
import { Counter, Gauge } from 'prom-client'
import { DomainError } from '../errors/domain-error.ts'
import { AgentIdParam } from '../http/params.ts'
import { liveSessions } from '../auth/sessions-repository.ts'
import { ERRORS } from '../http/response-schemas.ts'
import { principalOf } from '../auth/auth-plugin.ts'
import { findAgent, type AgentRow } from '../agents/agents-repository.ts'
import { LiveConnection, SendBudget, type QueueLimits } from './live-connection.ts'
import { MetricsClient, MetricsStream, parseFilterMessage } from './metrics-stream.ts'
import { FleetStream } from './fleet-stream.ts'
import { ALERTS_CHANNEL } from '../bus/alert-bus.ts'
import { LIVE_SUBPROTOCOL, moveTokenToHeader } from './ws-token.ts'

export interface LiveOptions {
  /** Heartbeat interval; a peer that misses two pongs is dropped. Seed 001: 54 s. */
  heartbeatMs?: number
  /** An agent is online while its newest sample is at most this old; default 20 s (as agents-routes). */
  onlineWindowSeconds?: number
  /**
   * LISTEN for other instances' ingests and for alert events; the ingest bus's relay takes it (default: on for
   * the embedded store, no extra connection; off for a server, where main.ts turns it on).
   */
  listen?: boolean
  /** Per client: messages and bytes waiting before the oldest are dropped; default 256 and 2 MiB. */
  queueMaxMessages?: number
  queueMaxBytes?: number
  /** Per client: bytes the socket may hold unsent before messages wait in the queue; default 256 KiB. */
  socketHighWaterBytes?: number
  /** All clients together: bytes queued and held by sockets before the oldest of a lagging client go; default 64 MiB. */
  sendBudgetBytes?: number
  /** How often agents' online/offline status is re-checked for the fleet stream; default 5 s. */
  statusCheckMs?: number
  /** How often open connections' sessions are re-checked (a logout closes them); default 15 s. */
  sessionCheckMs?: number
  /** On connect, /ws/metrics sends values of the last this many seconds; seed 001: 30. */
  snapshotSeconds?: number
}

export interface LiveStats {
  clients: { metrics: number; live: number }
  /** Summed over connections: messages and bytes waiting in the queues, bytes held by the sockets. */
  queuedMessages: number
  queuedBytes: number
  bufferedBytes: number
  /** What all clients hold together (queued and in sockets), against the shared budget. */
  heldBytes: number
  sendBudgetBytes: number
  /** Whether other instances' ingests and alert events arrive through LISTEN. */
  listening: boolean
}

declare module 'fastify' {
  interface FastifyInstance { live: { stats(): LiveStats } }
}

const WS_PREFIX = '/ws/'
/** Close code for a connection whose session ended (4000-4999: application codes). */
const SESSION_ENDED = 4401
const SHUTDOWN_GRACE_MS = 1000
/** An upgrade request's socket that neither became a WebSocket nor closed by then is cut off. */
const UPGRADE_ANSWER_MS = 10_000
/** Client messages are small filter objects. */
const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024


export const livePlugin = fp(async (app, opts: LiveOptions) => {
  const heartbeatMs = opts.heartbeatMs ?? 54_000
  const onlineWindowSeconds = opts.onlineWindowSeconds ?? 20
  // The bus decided whether this instance hears others (AppOptions.live.listen); alert events follow it.
  const listen = app.ingestFeed.relayed
  const limits: QueueLimits = {
    maxMessages: opts.queueMaxMessages ?? 256,
    maxBytes: opts.queueMaxBytes ?? 2 * 1024 * 1024,
    socketHighWaterBytes: opts.socketHighWaterBytes ?? 256 * 1024,
  }
  const budget = new SendBudget(opts.sendBudgetBytes ?? 64 * 1024 * 1024)
  const db = app.store.db

  // The token moves to the Authorization header before Fastify routes (and logs) the request.
  const moveToken = (req: IncomingMessage) => moveTokenToHeader(req, WS_PREFIX)
  const upgradeSockets = new Set<Socket>()
  const onUpgrade = (req: IncomingMessage, socket: Socket) => {
    moveToken(req)
    // An upgrade refused before any route hook ran (a 414 from the router) leaves its socket unread and
    // open: cut it off unless ws takes it over (ws clears the timeout when it does).
    socket.setTimeout(UPGRADE_ANSWER_MS, () => socket.destroy())
    upgradeSockets.add(socket)
    socket.once('close', () => upgradeSockets.delete(socket))
  }
  app.server.prependListener('upgrade', onUpgrade)
  app.server.prependListener('request', moveToken)

  await app.register(fastifyWebsocket, {
    // Clients are told the server is going away; one that does not answer within a second is cut off,
    // so a shutdown never waits for ws's 30 s closing handshake.
    preClose: (done) => {
      const wss = app.websocketServer
      for (const client of wss.clients) client.close(1001, 'server shutting down')
      const force = setTimeout(() => { for (const client of wss.clients) client.terminate() }, SHUTDOWN_GRACE_MS)
      wss.close(() => {
        clearTimeout(force)
        done()
      })
    },
    options: {
      maxPayload: MAX_CLIENT_MESSAGE_BYTES,
      handleProtocols: (offered) => (offered.has(LIVE_SUBPROTOCOL) ? LIVE_SUBPROTOCOL : false),
    },
  })

  const registry = app.observability.registry
  const clientsGauge = new Gauge({ name: 'hostpulse_ws_clients', help: 'Open WebSocket connections, by stream', labelNames: ['stream'], registers: [registry] })
  const sentTotal = new Counter({ name: 'hostpulse_ws_messages_sent_total', help: 'WebSocket messages handed to sockets, by stream', labelNames: ['stream'], registers: [registry] })
  const droppedTotal = new Counter({
    name: 'hostpulse_ws_messages_dropped_total', help: 'WebSocket messages dropped because a client did not read them in time, by stream',
    labelNames: ['stream'], registers: [registry],
  })
  const countersFor = (stream: 'metrics' | 'live') => ({
    sent: (n: number) => sentTotal.inc({ stream }, n),
    dropped: (n: number) => droppedTotal.inc({ stream }, n),
  })
  for (const stream of ['metrics', 'live']) {
    clientsGauge.set({ stream }, 0)
    sentTotal.inc({ stream }, 0)
    droppedTotal.inc({ stream }, 0)
  }

  const metrics = new MetricsStream(db, app.log, { snapshotSeconds: opts.snapshotSeconds ?? 30 })
  const fleet = new FleetStream(db, app.log, { onlineWindowSeconds })
  const connections = new Set<LiveConnection>()
  const updateGauge = () => {
    clientsGauge.set({ stream: 'metrics' }, metrics.clientCount)
    clientsGauge.set({ stream: 'live' }, fleet.clientCount)
  }

  const unsubscribe = app.ingestFeed.subscribe((event) => {
    metrics.onIngest(event)
    fleet.onIngest(event)
  })
  let stopAlerts: (() => Promise<void>) | undefined
  if (listen) {
    // Alert events and other instances' ingests sent while the connection was down are lost: resend the state.
    const resync = () => {
      app.log.warn('the LISTEN connection was lost and is back: fleet clients get a fresh snapshot, metric clients what changed')
      fleet.resync()
      metrics.resync()
    }
    stopAlerts = await app.store.listen(ALERTS_CHANNEL, (payload) => fleet.onAlert(payload), resync)
  }

  const open = (ws: WebSocket, request: FastifyRequest, stream: 'metrics' | 'live'): LiveConnection => {
    const connection = new LiveConnection(ws, principalOf(request), limits, countersFor(stream), budget)
    connections.add(connection)
    ws.on('close', () => {
      connections.delete(connection)
      updateGauge()
    })
    return connection
  }

  const notUpgraded = async () => {
    throw new DomainError('malformed', 'This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)')
  }

  const agents = new WeakMap<FastifyRequest, AgentRow>()
  app.route({
    method: 'GET', url: '/ws/metrics/:agent_id',
    onRequest: app.authenticate,
    // An agent of another organization is as unknown as one that does not exist: refused before the upgrade.
    preHandler: async (request) => {
      const { agent_id: id } = request.params as { agent_id: string }
      const agent = await findAgent(db, principalOf(request).orgId, id)
      if (!agent) throw new DomainError('not_found', `Agent "${id}" not found`)
      agents.set(request, agent)
    },
    schema: {
      summary: 'WebSocket: live values of one agent (seed 001); token in ?token= or Sec-WebSocket-Protocol', tags: ['live'],
      params: AgentIdParam, response: ERRORS,
    },
    handler: notUpgraded,
    wsHandler: (ws, request) => {
      const agent = agents.get(request)!
      const connection = open(ws, request, 'metrics')
      const client = new MetricsClient(connection, agent.id, agent.name)
      ws.on('message', (data) => {
        const parsed = parseFilterMessage(data.toString())
        if ('error' in parsed) connection.reject(parsed.error)
        else client.filter = parsed
      })
      ws.on('close', () => {
        metrics.leave(client)
        updateGauge()
      })
      metrics.join(client)
      updateGauge()
    },
  })

  app.route({
    method: 'GET', url: '/ws/live',
    onRequest: app.authenticate,
    schema: {
      summary: 'WebSocket: fleet summaries and alert events of the organization; token in ?token= or Sec-WebSocket-Protocol', tags: ['live'],
      response: ERRORS,
    },
    handler: notUpgraded,
    wsHandler: (ws, request) => {
      const connection = open(ws, request, 'live')
      ws.on('message', () => connection.reject('This stream takes no messages'))
      ws.on('close', () => {
        fleet.leave(connection)
        updateGauge()
      })
      fleet.join(connection)
      updateGauge()
    },
  })

  // A peer that stopped answering is dropped at the second heartbeat after its last pong.
  const heartbeat = setInterval(() => {
    for (const c of connections) {
      if (!c.alive) {
        c.ws.terminate()
        continue
      }
      c.alive = false
      c.ws.ping()
    }
  }, heartbeatMs)
  heartbeat.unref()

  const statusTimer = setInterval(() => fleet.checkStatuses(), opts.statusCheckMs ?? 5000)
  statusTimer.unref()

  // A logout (or a deleted user, or a move to another organization) ends the user's live connections too.
  const checkSessions = async () => {
    if (connections.size === 0) return
    // Only the connections whose sessions were asked about: one that opened during the read was
    // authenticated after it began, and its session is not in the answer.
    const checked = [...connections]
    const live = await liveSessions(db, [...new Set(checked.map((c) => c.principal.sessionId))])
    const orgOf = new Map(live.map((s) => [s.session_id, s.org_id]))
    for (const c of checked) {
      if (orgOf.get(c.principal.sessionId) !== c.principal.orgId) c.close(SESSION_ENDED, 'session ended: log in again')
    }
  }
  const sessionTimer = setInterval(() => {
    checkSessions().catch((err) => app.log.warn({ err }, 'live session check failed'))
  }, opts.sessionCheckMs ?? 15_000)
  sessionTimer.unref()

  app.decorate('live', {
    stats(): LiveStats {
      let queuedMessages = 0
      let queuedBytes = 0
      let bufferedBytes = 0
      for (const c of connections) {
        queuedMessages += c.queuedMessages
        queuedBytes += c.queuedBytes
        bufferedBytes += c.bufferedBytes
      }
      return { clients: { metrics: metrics.clientCount, live: fleet.clientCount }, queuedMessages, queuedBytes, bufferedBytes, heldBytes: budget.heldBytes, sendBudgetBytes: budget.maxBytes, listening: listen }
    },
  })

  app.addHook('onClose', async () => {
    clearInterval(heartbeat)
    clearInterval(statusTimer)
    clearInterval(sessionTimer)
    unsubscribe()
    app.server.removeListener('upgrade', onUpgrade)
    app.server.removeListener('request', moveToken)
    for (const socket of upgradeSockets) socket.destroy()
    await stopAlerts?.().catch(() => undefined)
    await app.ingestFeed.stopRelay()
  })
}, { name: 'hostpulse-live', dependencies: ['hostpulse-auth', 'hostpulse-ingest-feed', 'hostpulse-store', 'hostpulse-metrics'] })
