import type { LoginThrottle } from '../../auth/login-throttle.ts'
import type { RetentionDays } from '../../query/resolution-for-range.ts'

export interface PerfAnalysisOptions {
  onlineWindowSeconds: number
  retentionDays: RetentionDays
  accessTtlSeconds: number
  refreshTtlSeconds: number
  /** The native login throttle: failed logins count the same whichever face they come through. */
  loginThrottle: LoginThrottle
}
