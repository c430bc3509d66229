// Seeds 000 (the Process Monitor API) and 002 (the Django process monitor), at their own paths and shapes.
// Thin adapters: a submission is one native ingest batch through the one ingest service; reads are the
// native agent and process reads, reshaped. Errors are the native ones in each seed's format.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { claimErrorFormat, errorHandlerFor, type ErrorBody } from '../../http/errors.ts'
import { DomainError } from '../../errors/domain-error.ts'
import { principalOf } from '../../auth/auth-plugin.ts'
import { BUILTIN_ORG } from '../../auth/bootstrap-admin.ts'
import { sha256 } from '../../auth/secrets.ts'
import { findAgentByHostname, listAgents, type AgentRow } from '../../agents/agents-repository.ts'
import { findOrganizationByName } from '../../organizations/organizations-repository.ts'
import { checkBatches } from '../../ingest/check-batches.ts'
import { listProcessSnapshots, readLatestSnapshotProcesses, readSnapshotsProcesses } from '../../query/process-reads.ts'
import { djangoFieldErrors, drfErrorBody } from '../django-errors.ts'
import { Seed000Submission, Seed002Submission, submissionBatch } from './submission.ts'
import { seedTime } from '../seed-time.ts'
import { carriesSharedKey, submittingAgent, type SharedKey } from './submitter.ts'
import { flatView, HostOut, hostView, SnapshotOut, snapshotView, TreeOut, treeView } from './host-views.ts'

export interface ProcessMonitorOptions {
  /** PROCMON_API_KEY: the seeds' one shared key, if the operator chose to allow it. */
  sharedKey?: string
  /** PROCMON_ORG: the organization (name) hosts submitted with the shared key belong to. */
  sharedKeyOrg?: string
  /** PROCMON_NEW_HOSTS: what a host first seen through the shared key becomes. */
  newHosts: 'pending' | 'active'
  /** PROCMON_PUBLIC_READS: reads open to anyone (the seeds' "public endpoint"). */
  publicReads: boolean
}

/** Seed 000's errors: `{"error":"Invalid data format","details":{…}}` for a bad body, `{"error": "…"}` otherwise. */
function seed000ErrorBody(body: ErrorBody): unknown {
  const fields = djangoFieldErrors(body)
  return fields ? { error: 'Invalid data format', details: fields } : { error: body.message }
}

const hostNotFound = () => new DomainError('not_found', 'Host not found')
const Seed000Error = Type.Object({ error: Type.String(), details: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))) })
const Seed000Errors = { 400: Seed000Error, 401: Seed000Error, 403: Seed000Error, 404: Seed000Error, 429: Seed000Error }
const HostnameParam = Type.Object({ hostname: Type.String({ minLength: 1, maxLength: 255 }) })
const Accepted = Type.Object({
  message: Type.String(), host: Type.String(), snapshot_id: Type.Integer(), processes_created: Type.Integer(), timestamp: Type.String({ format: 'date-time' }),
})

export const processMonitorFace: FastifyPluginAsyncTypebox<ProcessMonitorOptions> = async (app, opts) => {
  const db = app.store.db
  app.setErrorHandler(errorHandlerFor(seed000ErrorBody))
  claimErrorFormat('seed 000', /^\/api\/(submit|hosts)\//, seed000ErrorBody)
  const drfErrors = errorHandlerFor(drfErrorBody)

  // The organization of the shared key and of public reads, resolved once at start.
  const orgName = opts.sharedKeyOrg ?? BUILTIN_ORG
  // Only the shared key and public reads need it (an app on a store not migrated yet must still start).
  const needsOrg = Boolean(opts.sharedKey || opts.publicReads || opts.sharedKeyOrg)
  const org = needsOrg ? await findOrganizationByName(db, orgName) : undefined
  if (!org && needsOrg) {
    throw new Error(`PROCMON_ORG=${JSON.stringify(orgName)} names no organization: create it first or leave PROCMON_ORG unset`)
  }
  const shared: SharedKey | undefined = opts.sharedKey && org
    ? { hash: Buffer.from(sha256(opts.sharedKey), 'hex'), orgId: org.id, newHosts: opts.newHosts }
    : undefined

  /** Uploads: the shared key, or an agent's own key checked before the body is read. */
  const authenticateSubmitter = async (request: FastifyRequest) => {
    if (!carriesSharedKey(shared, request)) await app.authenticateAgentKey(request)
  }
  /** Reads: a hostpulse token (its organization), the shared key, or nothing when the operator opened them. */
  const readOrgs = new WeakMap<FastifyRequest, string>()
  const readAccess = async (request: FastifyRequest, reply: FastifyReply) => {
    if (shared && carriesSharedKey(shared, request)) return void readOrgs.set(request, shared.orgId)
    if (opts.publicReads && !request.headers.authorization) return void readOrgs.set(request, org!.id)
    await app.authenticate(request, reply)
    readOrgs.set(request, principalOf(request).orgId)
  }
  const readOrg = (request: FastifyRequest): string => readOrgs.get(request)!
  const hostOf = async (request: FastifyRequest, hostname: string): Promise<AgentRow> => {
    const agent = await findAgentByHostname(db, readOrg(request), hostname)
    if (!agent) throw hostNotFound()
    return agent
  }
  const latestOf = (agent: AgentRow) => readLatestSnapshotProcesses(db, { orgId: agent.org_id, agentId: agent.id })

  async function store(request: FastifyRequest, body: Seed000Submission | Seed002Submission, kind: 'seed000' | 'seed002') {
    // A time that is no time is refused before the shared key registers a host for it.
    if ('timestamp' in body && typeof body.timestamp === 'string') seedTime(body.timestamp, 'timestamp')
    const agent = await submittingAgent(app, request, shared, body)
    const [batch] = checkBatches(submissionBatch(agent, body, kind))
    const stored = await app.ingest.ingest(agent, [batch])
    return { agent, batch, snapshotId: stored.snapshots.get(batch.batch_id)!, processes: stored.rows.processes }
  }

  app.post('/api/submit/', {
    bodyLimit: 64 * 1024 * 1024,
    onRequest: authenticateSubmitter,
    schema: {
      summary: 'Seed 000: store a host\'s process list as one snapshot', tags: ['process monitor (seed 000)'],
      security: [{ agentKey: [] }], body: Seed000Submission, response: { 201: Accepted, ...Seed000Errors },
    },
  }, async (request, reply) => {
    const { agent, batch, snapshotId, processes } = await store(request, request.body, 'seed000')
    return reply.status(201).send({
      message: 'Process data received successfully', host: request.body.hostname ?? agent.hostname,
      snapshot_id: snapshotId, processes_created: processes, timestamp: batch.time,
    })
  })

  // Seed 002 lists `/api/ingest/`, and its quickstart starts the agent with `--endpoint …/api/ingest`: both.
  for (const url of ['/api/ingest/', '/api/ingest']) {
    app.post(url, {
      bodyLimit: 64 * 1024 * 1024,
      onRequest: authenticateSubmitter,
      errorHandler: drfErrors,
      schema: {
        summary: 'Seed 002: store a psutil agent\'s process list for a hostname', tags: ['process monitor (seed 002)'],
        security: [{ agentKey: [] }], body: Seed002Submission,
        response: {
          201: Type.Object({
            status: Type.String(), hostname: Type.String(), snapshot_id: Type.Integer(), count: Type.Integer(), timestamp: Type.String({ format: 'date-time' }),
          }),
        },
      },
    }, async (request, reply) => {
      const { batch, snapshotId, processes } = await store(request, request.body, 'seed002')
      return reply.status(201).send({ status: 'ok', hostname: request.body.hostname, snapshot_id: snapshotId, count: processes, timestamp: batch.time })
    })
  }

  app.get('/api/hosts/', {
    onRequest: readAccess,
    schema: {
      summary: 'Seeds 000/002: the hosts, each with its latest snapshot', tags: ['process monitor (seed 000)'],
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
      }),
      response: { 200: Type.Array(HostOut), ...Seed000Errors },
    },
  }, async (request, reply) => {
    const { limit = 100, offset = 0 } = request.query
    const { agents, total } = await listAgents(db, readOrg(request), { limit, offset })
    void reply.header('x-total-count', String(total))
    const hosts = []
    for (const agent of agents) {
      const latest = await latestOf(agent)
      hosts.push(hostView(agent, latest ? snapshotView(agent, latest.snapshot, latest.processes) : null))
    }
    return hosts
  })

  app.get('/api/hosts/:hostname/processes/', {
    onRequest: readAccess,
    schema: {
      summary: 'Seed 000: the latest process tree of a host', tags: ['process monitor (seed 000)'],
      params: HostnameParam, response: { 200: TreeOut, ...Seed000Errors },
    },
  }, async (request) => {
    const agent = await hostOf(request, request.params.hostname)
    return treeView(agent, await latestOf(agent))
  })

  app.get('/api/hosts/:hostname/snapshots/', {
    onRequest: readAccess,
    schema: {
      summary: 'Seed 000: a host\'s snapshots, newest first (?limit, ?offset; X-Total-Count and a Link to the next page)',
      tags: ['process monitor (seed 000)'], params: HostnameParam,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
        offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
      }),
      response: { 200: Type.Array(SnapshotOut), ...Seed000Errors },
    },
  }, async (request, reply) => {
    const agent = await hostOf(request, request.params.hostname)
    const { limit = 10, offset = 0 } = request.query
    const ref = { orgId: agent.org_id, agentId: agent.id }
    const { snapshots, total } = await listProcessSnapshots(db, ref, { limit, offset })
    const processes = await readSnapshotsProcesses(db, ref, snapshots)
    void reply.header('x-total-count', String(total))
    if (offset + snapshots.length < total) {
      void reply.header('link', `</api/hosts/${encodeURIComponent(request.params.hostname)}/snapshots/?limit=${limit}&offset=${offset + limit}>; rel="next"`)
    }
    return snapshots.map((s, i) => snapshotView(agent, s, processes[i]))
  })

  app.get('/api/hosts/:hostname/latest/', {
    onRequest: readAccess,
    schema: {
      summary: 'Seed 000: a host\'s latest snapshot', tags: ['process monitor (seed 000)'],
      params: HostnameParam, response: { 200: SnapshotOut, ...Seed000Errors },
    },
  }, async (request) => {
    const agent = await hostOf(request, request.params.hostname)
    const latest = await latestOf(agent)
    if (!latest) throw new DomainError('not_found', `Host "${request.params.hostname}" has sent no process snapshot yet`)
    return snapshotView(agent, latest.snapshot, latest.processes)
  })

  app.get('/api/latest', {
    onRequest: readAccess,
    errorHandler: drfErrors,
    schema: {
      summary: 'Seed 002: a host\'s newest snapshot as a flat list (pid/ppid)', tags: ['process monitor (seed 002)'],
      querystring: Type.Object({ hostname: Type.String({ minLength: 1, maxLength: 255 }) }),
    },
  }, async (request) => {
    const agent = await findAgentByHostname(db, readOrg(request), request.query.hostname)
    if (!agent) throw new DomainError('not_found', `Host "${request.query.hostname}" not found`)
    const latest = await latestOf(agent)
    if (!latest) throw new DomainError('not_found', `Host "${request.query.hostname}" has sent no process snapshot yet`)
    return flatView(agent, latest.snapshot, latest.processes)
  })
}
