// Failed logins counted per username and per client address in a sliding window. Once either count
// reaches its limit, logins for that user (or from that address) are refused with 429 until the oldest
// failure leaves the window — the same answer whether the username exists or not.
export interface LoginThrottleLimits { windowMs: number; maxFailuresPerUser: number; maxFailuresPerIp: number }

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleLimits = { windowMs: 15 * 60_000, maxFailuresPerUser: 10, maxFailuresPerIp: 50 }

/** Bounds memory under a flood of distinct usernames: the oldest keys are forgotten first. */
const MAX_KEYS = 100_000

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>()
  constructor(private readonly limits: LoginThrottleLimits = DEFAULT_LOGIN_THROTTLE, private readonly now: () => number = Date.now) {}

  /** Seconds until a login for `username` from `ip` may be tried again; 0 when it may be tried now. */
  retryAfterSeconds(username: string, ip: string): number {
    const waits = [
      this.wait(`u:${username.toLowerCase()}`, this.limits.maxFailuresPerUser),
      this.wait(`ip:${ip}`, this.limits.maxFailuresPerIp),
    ]
    return Math.max(...waits)
  }

  recordFailure(username: string, ip: string): void {
    this.add(`u:${username.toLowerCase()}`)
    this.add(`ip:${ip}`)
  }

  /** A successful login clears the user's failures (not the address's: one good password must not reset a spray). */
  recordSuccess(username: string): void {
    this.failures.delete(`u:${username.toLowerCase()}`)
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.limits.windowMs
    const times = (this.failures.get(key) ?? []).filter((t) => t > cutoff)
    if (times.length === 0) this.failures.delete(key)
    else this.failures.set(key, times)
    return times
  }

  private wait(key: string, max: number): number {
    const times = this.recent(key)
    if (times.length < max) return 0
    const freedAt = times[times.length - max] + this.limits.windowMs
    return Math.max(1, Math.ceil((freedAt - this.now()) / 1000))
  }

  private add(key: string): void {
    const times = this.recent(key)
    times.push(this.now())
    this.failures.delete(key)
    this.failures.set(key, times.slice(-1000))
    if (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!)
  }
}
