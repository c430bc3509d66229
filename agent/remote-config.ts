// The server's say over what the agent collects: GET /api/v1/agents/self/config, merged over the local flags.
import { METRIC_FAMILIES, type CollectionSettings, type MetricFamily } from './collection-settings.ts'
import { describeFailure, httpCall, type HttpAnswer } from './http-request.ts'
import type { AgentLog } from './logger.ts'
import type { SendTarget } from './send-batches.ts'

export const CONFIG_PATH = '/api/v1/agents/self/config'
/** How often the agent asks again; a change applies at the next collection, no restart. */
export const DEFAULT_CONFIG_REFRESH_MS = 5 * 60_000
export const MIN_INTERVAL_MS = 1000
export const MAX_INTERVAL_MS = 3600_000

/** The answer's shape; every field optional, an absent one keeps the local setting. */
export interface RemoteConfig {
  interval_seconds?: number
  collect?: Partial<Record<MetricFamily, boolean>>
  max_processes?: number
}

export type ConfigAnswer =
  | { kind: 'config'; config: RemoteConfig }
  /** 404: this server has no config endpoint; local settings stand. */
  | { kind: 'none' }
  | { kind: 'failed'; reason: string; unreachable: boolean }

export async function fetchRemoteConfig(target: SendTarget, signal?: AbortSignal): Promise<ConfigAnswer> {
  let res: HttpAnswer
  try {
    res = await httpCall({
      url: new URL(CONFIG_PATH, target.serverUrl).toString(),
      headers: { 'x-api-key': target.apiKey, accept: 'application/json' },
      timeoutMs: target.timeoutMs,
      signal,
    })
  } catch (err) {
    return { kind: 'failed', reason: describeFailure(err), unreachable: true }
  }
  if (res.status === 404) return { kind: 'none' }
  if (res.status < 200 || res.status >= 300) return { kind: 'failed', reason: `HTTP ${res.status}`, unreachable: false }
  try {
    const json = JSON.parse(res.text) as unknown
    if (json && typeof json === 'object' && !Array.isArray(json)) return { kind: 'config', config: json as RemoteConfig }
  } catch { /* fall through */ }
  return { kind: 'failed', reason: 'the answer is not a JSON object', unreachable: false }
}

/**
 * The settings to run with: the local ones, overridden field by field by what the server sent.
 * A value out of range is ignored (and reported in `problems`), never half-applied.
 */
export function mergeRemoteConfig(local: CollectionSettings, remote: RemoteConfig): { settings: CollectionSettings; problems: string[] } {
  const settings: CollectionSettings = { ...local, collect: { ...local.collect } }
  const problems: string[] = []
  const interval = remote.interval_seconds
  if (interval !== undefined) {
    const ms = Math.round(Number(interval) * 1000)
    if (typeof interval === 'number' && ms >= MIN_INTERVAL_MS && ms <= MAX_INTERVAL_MS) settings.intervalMs = ms
    else problems.push(`interval_seconds ${JSON.stringify(interval)} is outside ${MIN_INTERVAL_MS / 1000}..${MAX_INTERVAL_MS / 1000}`)
  }
  if (remote.collect !== undefined) {
    if (typeof remote.collect !== 'object' || remote.collect === null) problems.push('collect is not an object')
    else {
      for (const [family, on] of Object.entries(remote.collect)) {
        if (!(METRIC_FAMILIES as readonly string[]).includes(family)) problems.push(`collect.${family} is not a metric family (${METRIC_FAMILIES.join(', ')})`)
        else if (typeof on !== 'boolean') problems.push(`collect.${family} is not true or false`)
        else settings.collect[family as MetricFamily] = on
      }
    }
  }
  const max = remote.max_processes
  if (max !== undefined && max !== null) {
    if (Number.isInteger(max) && max >= 0) settings.maxProcesses = max
    else problems.push(`max_processes ${JSON.stringify(max)} is not a whole number >= 0`)
  }
  return { settings, problems }
}

export function describeSettings(s: CollectionSettings): string {
  const off = METRIC_FAMILIES.filter(f => !s.collect[f])
  return [
    `every ${s.intervalMs / 1000} s`,
    off.length ? `not collecting ${off.join(', ')}` : 'all families',
    s.maxProcesses !== undefined ? `top ${s.maxProcesses} processes` : 'all processes',
  ].join(', ')
}

export interface RemoteConfigOptions {
  target: SendTarget
  local: CollectionSettings
  log: AgentLog
  /** Called when the effective settings change. */
  onChange: (settings: CollectionSettings) => void
  refreshMs?: number
}

/** Fetches at start and every few minutes; keeps the last good settings when the server cannot answer. */
export class RemoteConfigPoller {
  private current: CollectionSettings
  private timer: NodeJS.Timeout | undefined
  private readonly abort = new AbortController()
  private noEndpointSaid = false
  private lastProblems = ''

  constructor(private readonly opts: RemoteConfigOptions) {
    this.current = opts.local
  }

  get settings(): CollectionSettings { return this.current }

  /** The first fetch; the answer says whether the server could be reached at all. */
  async start(): Promise<ConfigAnswer> {
    const answer = await this.refresh()
    this.schedule()
    return answer
  }

  stop(): void {
    clearTimeout(this.timer)
    this.abort.abort()
  }

  async refresh(): Promise<ConfigAnswer> {
    const answer = await fetchRemoteConfig(this.opts.target, this.abort.signal)
    const { log } = this.opts
    if (answer.kind === 'none') {
      if (!this.noEndpointSaid) log('debug', `the server has no ${CONFIG_PATH} (HTTP 404); using local settings`)
      this.noEndpointSaid = true
      this.apply(this.opts.local)
    } else if (answer.kind === 'failed') {
      // Outages are the delivery's to report; keep what we have.
      log('debug', `could not fetch the configuration (${answer.reason}); keeping ${describeSettings(this.current)}`)
    } else {
      const { settings, problems } = mergeRemoteConfig(this.opts.local, answer.config)
      const said = problems.join('; ')
      if (said && said !== this.lastProblems) log('warn', `server configuration: ignored ${said}`)
      this.lastProblems = said
      this.apply(settings)
    }
    return answer
  }

  private apply(next: CollectionSettings): void {
    if (JSON.stringify(next) === JSON.stringify(this.current)) return
    this.current = next
    this.opts.log('info', `configuration changed: ${describeSettings(next)}`)
    this.opts.onChange(next)
  }

  private schedule(): void {
    if (this.abort.signal.aborted) return
    this.timer = setTimeout(() => { void this.refresh().finally(() => this.schedule()) }, this.opts.refreshMs ?? DEFAULT_CONFIG_REFRESH_MS)
    this.timer.unref()
  }
}
