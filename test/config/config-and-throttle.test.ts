// Production refuses a missing, short or placeholder JWT secret; security settings are read and
// validated; the login throttle counts failures per user and per address in a sliding window.
import t from 'tap'
import { ConfigError, loadConfig } from '../../services/config/config.ts'
import { LoginThrottle } from '../../services/auth/login-throttle.ts'
import { weakJwtSecretReason } from '../../services/auth/jwt-secret.ts'
import { JWT_SECRET } from '../test-client.ts'

const STRONG = 'q9Vx3LrT0pZk7mWc2Hs8JdNf4Yb6Gu1Ae5Ri0Ol'

t.test('JWT secret in production: missing, short, placeholder or repetitive secrets stop the start', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), ConfigError)
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'short-secret' }), /JWT_SECRET/)
  for (const secret of ['your-256-bit-secret-your-256-bit-secret', 'changeme-changeme-changeme-changeme-00', JWT_SECRET,
    'a'.repeat(64), 'abababababababababababababababababababab', 'super-secret-jwt-token-with-at-least-32-characters-long']) {
    t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }), /JWT_SECRET .*(placeholder|repetitive)/, `refused: ${secret.slice(0, 20)}…`)
    t.ok(weakJwtSecretReason(secret))
  }
  t.equal(loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG }).JWT_SECRET, STRONG)
  t.equal(loadConfig({ JWT_SECRET }).JWT_SECRET, JWT_SECRET, 'development accepts a test secret')
})

t.test('security settings: defaults and validation', async (t) => {
  const c = loadConfig({})
  t.same(c.rateLimits, { windowMs: 60_000, auth: 10, read: 300, write: 60, ingest: 600, perf_auth: 5, perf_read: 100, perf_write: 20 })
  t.same(c.loginThrottle, { windowMs: 15 * 60_000, maxFailuresPerUser: 10, maxFailuresPerIp: 50 })
  t.equal(c.requestTimeoutMs, 120_000)
  t.equal(c.ALERT_TARGETS_ALLOW_PRIVATE, false)
  t.equal(c.TRUST_PROXY, false)
  const d = loadConfig({ RATE_LIMIT_READ: '1000', RATE_LIMIT_WINDOW: '30s', ALERT_TARGETS_ALLOW_PRIVATE: 'true', LOGIN_MAX_FAILURES_PER_USER: '3' })
  t.equal(d.rateLimits.read, 1000)
  t.equal(d.rateLimits.windowMs, 30_000)
  t.equal(d.ALERT_TARGETS_ALLOW_PRIVATE, true)
  t.equal(d.loginThrottle.maxFailuresPerUser, 3)
  t.throws(() => loadConfig({ RATE_LIMIT_INGEST: '0' }), /RATE_LIMIT_INGEST/)
  t.throws(() => loadConfig({ RATE_LIMIT_WINDOW: 'a minute' }), /RATE_LIMIT_WINDOW/)
})

t.test('report settings: defaults and validation', async (t) => {
  t.same(loadConfig({}).reports, { timeoutMs: 120_000, maxBytes: 50 * 1024 * 1024, retentionDays: 30 }, 'no Chromium path: looked for at start')
  const c = loadConfig({ REPORT_CHROMIUM_PATH: '/opt/chrome/chrome', REPORT_TIMEOUT: '5m', REPORT_MAX_MB: '10', REPORT_RETENTION: '7d' })
  t.same(c.reports, { chromiumPath: '/opt/chrome/chrome', timeoutMs: 300_000, maxBytes: 10 * 1024 * 1024, retentionDays: 7 })
  t.throws(() => loadConfig({ REPORT_MAX_MB: '0' }), /REPORT_MAX_MB/)
  t.throws(() => loadConfig({ REPORT_TIMEOUT: 'two minutes' }), /REPORT_TIMEOUT/)
})

t.test('database deadlines: defaults and validation', async (t) => {
  const c = loadConfig({})
  t.equal(c.databaseQueryTimeoutMs, 30_000, 'a statement has 30 s to answer')
  t.equal(c.databaseConnectTimeoutMs, 10_000, 'a connection 10 s to be had')
  const d = loadConfig({ DATABASE_QUERY_TIMEOUT: '500ms', DATABASE_CONNECT_TIMEOUT: '2s' })
  t.same([d.databaseQueryTimeoutMs, d.databaseConnectTimeoutMs], [500, 2000])
  t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT: '0s' }), /DATABASE_QUERY_TIMEOUT=0s: must be longer than 0/)
  t.throws(() => loadConfig({ DATABASE_CONNECT_TIMEOUT: '30d' }), /DATABASE_CONNECT_TIMEOUT=30d: .*at most 24d/, 'longer than a Node.js timer holds')
  t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT: 'soon' }), /DATABASE_QUERY_TIMEOUT/)
})

t.test('login throttle: per user and per address, sliding window, success clears the user', async (t) => {
  let now = 1_000_000
  const th = new LoginThrottle({ windowMs: 60_000, maxFailuresPerUser: 3, maxFailuresPerIp: 5 }, () => now)
  for (let i = 0; i < 3; i++) { t.equal(th.retryAfterSeconds('Alice', '10.0.0.1'), 0); th.recordFailure('alice', '10.0.0.1'); now += 1000 }
  t.equal(th.retryAfterSeconds('ALICE', '10.0.0.2'), 57, 'the user is locked from any address, case-insensitively')
  t.equal(th.retryAfterSeconds('bob', '10.0.0.1'), 0, 'another user from the same address may still try')
  th.recordFailure('bob', '10.0.0.1')
  th.recordFailure('carol', '10.0.0.1')
  t.ok(th.retryAfterSeconds('dave', '10.0.0.1') > 0, 'five failures from one address lock the address')
  now += 58_000
  t.equal(th.retryAfterSeconds('alice', '10.0.0.9'), 0, 'the oldest failure left the window')
  th.recordFailure('erin', '10.0.0.9'); th.recordFailure('erin', '10.0.0.9')
  th.recordSuccess('erin')
  th.recordFailure('erin', '10.0.0.9')
  t.equal(th.retryAfterSeconds('erin', '10.0.0.8'), 0, 'a success clears the user')
})

t.test('compression age of raw rows: default, and refused when it would never or always apply', async (t) => {
  t.equal(loadConfig({}).HOSTPULSE_COMPRESS_AFTER, '1d')
  t.equal(loadConfig({ HOSTPULSE_COMPRESS_AFTER: '7d' }).HOSTPULSE_COMPRESS_AFTER, '7d', 'the migrations\' former week is still accepted')
  t.throws(() => loadConfig({ HOSTPULSE_COMPRESS_AFTER: '30m' }), /HOSTPULSE_COMPRESS_AFTER=30m: must be at least 1h/)
  t.throws(() => loadConfig({ HOSTPULSE_COMPRESS_AFTER: '30d' }), /shorter than HOSTPULSE_RETENTION_RAW=30d/, 'not after the raw rows are dropped')
  t.equal(loadConfig({ HOSTPULSE_COMPRESS_AFTER: '30d', HOSTPULSE_RETENTION_RAW: '60d' }).HOSTPULSE_COMPRESS_AFTER, '30d')
  t.throws(() => loadConfig({ HOSTPULSE_COMPRESS_AFTER: 'daily' }), /HOSTPULSE_COMPRESS_AFTER/)
})
