// Configuration is one validated schema read once at boot; a bad value stops the start with a clear message.
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { parseDuration } from '../time/duration.ts'
import type { RateLimitBudgets } from '../security/rate-limits.ts'
import type { LoginThrottleLimits } from '../auth/login-throttle.ts'
import { weakJwtSecretReason } from '../auth/jwt-secret.ts'
import { parseScrubPattern } from '../../contract/command-line-secrets.ts'
import { DEFAULT_COMPRESS_AFTER } from '../store/compression-policies.ts'

const Duration = Type.String({ pattern: '^\\d+(ms|s|m|h|d|w)$' })

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  /**
   * Server mode: a statement with no answer after this long fails as "database unavailable" (503) and its
   * connection is closed: a database gone silent (no reset) would otherwise hold requests for minutes.
   * Migrations and aggregate refreshes are exempt.
   */
  DATABASE_QUERY_TIMEOUT: Duration,
  /** Server mode: waiting for a pooled connection or for a new one to open; then 503. */
  DATABASE_CONNECT_TIMEOUT: Duration,
  HOSTPULSE_DATA_DIR: Type.String({ default: './data' }),
  ADMIN_USERNAME: Type.String({ minLength: 1, default: 'admin' }),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8 })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_EXPIRES_IN: Duration,
  REFRESH_TOKEN_EXPIRES_IN: Duration,
  HOSTPULSE_LOCAL_AGENT: Type.Boolean({ default: true }),
  HOSTPULSE_AGENT_INTERVAL: Duration,
  HOSTPULSE_RETENTION_RAW: Duration,
  HOSTPULSE_RETENTION_MINUTE: Duration,
  HOSTPULSE_RETENTION_HOUR: Duration,
  HOSTPULSE_RETENTION_DAY: Duration,
  /** How long log lines are kept (default: as long as the raw metrics). */
  HOSTPULSE_RETENTION_LOGS: Type.Optional(Duration),
  /** Raw rows are compressed once their chunk is this much older than its end (at least 1h, less than the raw retention). */
  HOSTPULSE_COMPRESS_AFTER: Duration,
  HOSTPULSE_JOB_CHECK_INTERVAL: Duration,
  /** Least time between two refreshes of an aggregate for rows older than its watermark (0s: off, rows wait for the policies). */
  HOSTPULSE_LATE_DATA_REFRESH: Duration,
  HOSTPULSE_ONLINE_WINDOW: Type.Optional(Duration),
  GRAFANA_DB_PASSWORD: Type.Optional(Type.String({ minLength: 8 })),
  TRUST_PROXY: Type.Boolean({ default: false }),
  METRICS_PUBLIC: Type.Boolean({ default: false }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  CORS_ORIGINS: Type.Optional(Type.String({ pattern: '^\\s*https?://[^\\s,]+(\\s*,\\s*https?://[^\\s,]+)*\\s*$' })),
  HTTP_REQUEST_TIMEOUT: Duration,
  RATE_LIMIT_WINDOW: Duration,
  RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 10 }),
  RATE_LIMIT_READ: Type.Integer({ minimum: 1, default: 300 }),
  RATE_LIMIT_WRITE: Type.Integer({ minimum: 1, default: 60 }),
  RATE_LIMIT_INGEST: Type.Integer({ minimum: 1, default: 600 }),
  PERF_RATE_LIMIT_AUTH: Type.Integer({ minimum: 1, default: 5 }),
  PERF_RATE_LIMIT_READ: Type.Integer({ minimum: 1, default: 100 }),
  PERF_RATE_LIMIT_WRITE: Type.Integer({ minimum: 1, default: 20 }),
  LOGIN_FAILURE_WINDOW: Duration,
  LOGIN_MAX_FAILURES_PER_USER: Type.Integer({ minimum: 1, default: 10 }),
  LOGIN_MAX_FAILURES_PER_IP: Type.Integer({ minimum: 1, default: 50 }),
  ALERT_TARGETS_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  /** Rules as code: a YAML or JSON file of alert rules loaded (and validated) at start. */
  ALERT_RULES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Absence rules (agent.offline, no_data, process.absent) wait this long after the API starts or the
   * database comes back before judging: agents first deliver what they buffered meanwhile.
   */
  ALERT_ABSENCE_GRACE: Duration,
  /** The operator's SMTP server for email channels (trusted: not subject to the private-address guard). */
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://' })),
  SMTP_FROM: Type.String({ minLength: 3, default: 'hostpulse <hostpulse@localhost>' }),
  /** Where people reach the web page; links in notifications point here. */
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** One more pattern hidden in every stored command line (`/regex/flags` or a bare regex), on top of the built-in rules. */
  HOSTPULSE_SCRUB_PATTERN: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Seed 000/002's single shared agent key. Unset (the default) means only agents' own keys upload there.
   * A submit with it writes to the host of that hostname, created on first sight in PROCMON_ORG.
   */
  PROCMON_API_KEY: Type.Optional(Type.String({ minLength: 16 })),
  /** The organization (name) hosts submitted with PROCMON_API_KEY belong to; the built-in one by default. */
  PROCMON_ORG: Type.Optional(Type.String({ minLength: 1 })),
  /** What a host first seen through PROCMON_API_KEY becomes: `pending` (an admin approves it; the default) or `active`. */
  PROCMON_NEW_HOSTS: Type.Union([Type.Literal('pending'), Type.Literal('active')], { default: 'pending' }),
  /** Open seed 000/002's reads (hosts, process trees, snapshots) to anyone who can reach the server. Off by default. */
  PROCMON_PUBLIC_READS: Type.Boolean({ default: false }),
  /** Seed 003's insecure "agent authentication via hostname" for approved, active agents. Off by default. */
  AGENT_HOSTNAME_AUTH: Type.Boolean({ default: false }),
  /** Chromium for PDF reports (default: the first of /usr/bin/chromium, chromium-browser, google-chrome that exists). */
  REPORT_CHROMIUM_PATH: Type.Optional(Type.String({ minLength: 1 })),
  /** A report taking longer fails. */
  REPORT_TIMEOUT: Duration,
  /** A report file larger than this many MiB fails instead of being stored. */
  REPORT_MAX_MB: Type.Integer({ minimum: 1, maximum: 1024, default: 50 }),
  /** Reports and their files are deleted this long after they were asked. */
  REPORT_RETENTION: Duration,
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
})

const DEFAULT_DURATIONS = {
  JWT_EXPIRES_IN: '1h',
  REFRESH_TOKEN_EXPIRES_IN: '30d',
  HOSTPULSE_AGENT_INTERVAL: '10s',
  HOSTPULSE_RETENTION_RAW: '30d',
  HOSTPULSE_RETENTION_MINUTE: '90d',
  HOSTPULSE_RETENTION_HOUR: '90d',
  HOSTPULSE_RETENTION_DAY: '365d',
  HOSTPULSE_COMPRESS_AFTER: DEFAULT_COMPRESS_AFTER,
  HOSTPULSE_JOB_CHECK_INTERVAL: '15s',
  DATABASE_QUERY_TIMEOUT: '30s',
  DATABASE_CONNECT_TIMEOUT: '10s',
  HOSTPULSE_LATE_DATA_REFRESH: '5s',
  HTTP_REQUEST_TIMEOUT: '120s',
  ALERT_ABSENCE_GRACE: '90s',
  RATE_LIMIT_WINDOW: '1m',
  LOGIN_FAILURE_WINDOW: '15m',
  REPORT_TIMEOUT: '120s',
  REPORT_RETENTION: '30d',
} as const

type RawConfig = Static<typeof ConfigSchema>

/** The longest delay setTimeout keeps (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

export interface Config extends RawConfig {
  retention: { raw: string; minute: string; hour: string; day: string; logs: string }
  jwtExpiresInSeconds: number
  refreshExpiresInSeconds: number
  agentIntervalMs: number
  jobCheckIntervalMs: number
  lateDataRefreshMs: number
  databaseQueryTimeoutMs: number
  databaseConnectTimeoutMs: number
  /** An agent is online while its newest sample is at most this old (default: two agent intervals). */
  onlineWindowSeconds: number
  retentionDays: { raw: number; minute: number; hour: number; day: number }
  requestTimeoutMs: number
  alertAbsenceGraceMs: number
  corsOrigins: string[]
  rateLimits: RateLimitBudgets
  loginThrottle: LoginThrottleLimits
  /** HOSTPULSE_SCRUB_PATTERN compiled; empty when unset. */
  scrubPatterns: RegExp[]
  reports: { chromiumPath?: string; timeoutMs: number; maxBytes: number; retentionDays: number }
}

export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError' }
}

/** Reads and validates configuration from an environment (process.env by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, unknown> = { ...DEFAULT_DURATIONS }
  for (const key of Object.keys(ConfigSchema.properties)) {
    const v = env[key]
    if (v !== undefined && v !== '') input[key] = v
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, input))
  const errors = [...Value.Errors(ConfigSchema, converted)]
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const key = e.instancePath.replace(/^\//, '')
      return `  ${key}=${JSON.stringify(input[key])}: ${e.message}`
    })
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}\nFix the environment variables above (see .env.example).`)
  }
  const raw = converted as RawConfig
  if (raw.NODE_ENV === 'production' && !raw.JWT_SECRET) {
    throw new ConfigError('JWT_SECRET must be set (at least 32 characters) when NODE_ENV=production')
  }
  const weak = raw.JWT_SECRET === undefined ? undefined : weakJwtSecretReason(raw.JWT_SECRET)
  if (raw.NODE_ENV === 'production' && weak) {
    throw new ConfigError(`JWT_SECRET ${weak}; generate one with: openssl rand -base64 48`)
  }
  for (const key of ['DATABASE_QUERY_TIMEOUT', 'DATABASE_CONNECT_TIMEOUT'] as const) {
    // Node.js fires a longer timer at once.
    const ms = parseDuration(raw[key])
    if (ms <= 0 || ms > MAX_TIMER_MS) throw new ConfigError(`${key}=${raw[key]}: must be longer than 0 and at most 24d (it bounds how long a request waits on an unreachable database)`)
  }
  const compressAfterMs = parseDuration(raw.HOSTPULSE_COMPRESS_AFTER)
  if (compressAfterMs < 3_600_000 || compressAfterMs >= parseDuration(raw.HOSTPULSE_RETENTION_RAW)) {
    throw new ConfigError(`HOSTPULSE_COMPRESS_AFTER=${raw.HOSTPULSE_COMPRESS_AFTER}: must be at least 1h and shorter than HOSTPULSE_RETENTION_RAW=${raw.HOSTPULSE_RETENTION_RAW} `
      + '(raw rows are compressed this long after the chunk holding them ends, and dropped at the retention)')
  }
  const windowMs = parseDuration(raw.RATE_LIMIT_WINDOW)
  let scrubPatterns: RegExp[] = []
  try {
    if (raw.HOSTPULSE_SCRUB_PATTERN) scrubPatterns = [parseScrubPattern(raw.HOSTPULSE_SCRUB_PATTERN)]
  } catch (err) {
    throw new ConfigError(`HOSTPULSE_SCRUB_PATTERN=${JSON.stringify(raw.HOSTPULSE_SCRUB_PATTERN)} is not usable: ${(err as Error).message}`)
  }
  return {
    ...raw,
    retention: {
      raw: raw.HOSTPULSE_RETENTION_RAW, minute: raw.HOSTPULSE_RETENTION_MINUTE,
      hour: raw.HOSTPULSE_RETENTION_HOUR, day: raw.HOSTPULSE_RETENTION_DAY,
      logs: raw.HOSTPULSE_RETENTION_LOGS ?? raw.HOSTPULSE_RETENTION_RAW,
    },
    jwtExpiresInSeconds: parseDuration(raw.JWT_EXPIRES_IN) / 1000,
    refreshExpiresInSeconds: parseDuration(raw.REFRESH_TOKEN_EXPIRES_IN) / 1000,
    agentIntervalMs: parseDuration(raw.HOSTPULSE_AGENT_INTERVAL),
    jobCheckIntervalMs: parseDuration(raw.HOSTPULSE_JOB_CHECK_INTERVAL),
    lateDataRefreshMs: parseDuration(raw.HOSTPULSE_LATE_DATA_REFRESH),
    databaseQueryTimeoutMs: parseDuration(raw.DATABASE_QUERY_TIMEOUT),
    databaseConnectTimeoutMs: parseDuration(raw.DATABASE_CONNECT_TIMEOUT),
    onlineWindowSeconds: (raw.HOSTPULSE_ONLINE_WINDOW ? parseDuration(raw.HOSTPULSE_ONLINE_WINDOW) : 2 * parseDuration(raw.HOSTPULSE_AGENT_INTERVAL)) / 1000,
    retentionDays: {
      raw: parseDuration(raw.HOSTPULSE_RETENTION_RAW) / 86_400_000, minute: parseDuration(raw.HOSTPULSE_RETENTION_MINUTE) / 86_400_000,
      hour: parseDuration(raw.HOSTPULSE_RETENTION_HOUR) / 86_400_000, day: parseDuration(raw.HOSTPULSE_RETENTION_DAY) / 86_400_000,
    },
    requestTimeoutMs: parseDuration(raw.HTTP_REQUEST_TIMEOUT),
    alertAbsenceGraceMs: parseDuration(raw.ALERT_ABSENCE_GRACE),
    corsOrigins: raw.CORS_ORIGINS ? raw.CORS_ORIGINS.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean) : [],
    rateLimits: {
      windowMs, auth: raw.RATE_LIMIT_AUTH, read: raw.RATE_LIMIT_READ, write: raw.RATE_LIMIT_WRITE, ingest: raw.RATE_LIMIT_INGEST,
      perf_auth: raw.PERF_RATE_LIMIT_AUTH, perf_read: raw.PERF_RATE_LIMIT_READ, perf_write: raw.PERF_RATE_LIMIT_WRITE,
    },
    scrubPatterns,
    reports: {
      ...raw.REPORT_CHROMIUM_PATH ? { chromiumPath: raw.REPORT_CHROMIUM_PATH } : {},
      timeoutMs: parseDuration(raw.REPORT_TIMEOUT), maxBytes: raw.REPORT_MAX_MB * 1024 * 1024,
      retentionDays: parseDuration(raw.REPORT_RETENTION) / 86_400_000,
    },
    loginThrottle: {
      windowMs: parseDuration(raw.LOGIN_FAILURE_WINDOW),
      maxFailuresPerUser: raw.LOGIN_MAX_FAILURES_PER_USER, maxFailuresPerIp: raw.LOGIN_MAX_FAILURES_PER_IP,
    },
  }
}
