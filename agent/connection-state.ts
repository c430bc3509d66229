// The agent's view of the server as an explicit state machine: connecting → online ⇄ backoff, or unauthorized.

export type ConnectionState =
  /** Nothing sent yet since start (or since the last backoff ended): the next send is a probe. */
  | { kind: 'connecting'; failures: number }
  | { kind: 'online' }
  /** The server was unreachable or failing; no sends until `retryAt`. */
  | { kind: 'backoff'; failures: number; retryAt: number }
  /** The server refused the API key; retry slowly in case an operator fixes it server-side. */
  | { kind: 'unauthorized'; failures: number; retryAt: number }

export type ConnectionEvent =
  | { type: 'delivered' }
  /** `retryAfterMs`: the server's Retry-After; the next try waits at least that long. */
  | { type: 'failed'; retryAfterMs?: number }
  | { type: 'key_refused' }
  | { type: 'retry_due' }

export interface BackoffPolicy { baseMs: number; capMs: number }
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60_000 }

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so a fleet of agents
 * does not reconnect in lockstep after a server restart, and no wait is ever near zero.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, failures - 1))
  return Math.round(step / 2 + random() * (step / 2))
}

export const INITIAL_STATE: ConnectionState = { kind: 'connecting', failures: 0 }

export function nextState(state: ConnectionState, event: ConnectionEvent, now: number, policy: BackoffPolicy, random: () => number = Math.random): ConnectionState {
  const failures = state.kind === 'online' ? 0 : state.failures
  switch (event.type) {
    case 'delivered':
      return { kind: 'online' }
    case 'failed': {
      // Never sooner than the server asked, never faster than our own schedule.
      const wait = Math.max(backoffDelay(failures + 1, policy, random), event.retryAfterMs ?? 0)
      return { kind: 'backoff', failures: failures + 1, retryAt: now + wait }
    }
    case 'key_refused':
      // Straight to the cap: a wrong key is not fixed by hammering the server.
      return { kind: 'unauthorized', failures: failures + 1, retryAt: now + policy.capMs }
    case 'retry_due':
      return state.kind === 'backoff' || state.kind === 'unauthorized' ? { kind: 'connecting', failures } : state
  }
}

/** Whether a send may be attempted now. */
export function maySend(state: ConnectionState, now: number): boolean {
  return state.kind === 'online' || state.kind === 'connecting' || now >= state.retryAt
}
