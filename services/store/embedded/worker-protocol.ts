// Messages between the store (main thread) and the PGlite worker thread.
export interface WorkerOpen { dataDir: string }

export type WorkerCall =
  | { kind: 'query'; sql: string; params: readonly unknown[] }
  | { kind: 'exec'; sql: string }
  | { kind: 'listen'; channel: string }
  | { kind: 'unlisten'; channel: string }
  | { kind: 'close' }

export type WorkerRequest = WorkerCall & { id: number }

export interface WorkerRows { rows: Record<string, unknown>[]; affectedRows?: number }

/** A database error as it crosses the thread boundary: the fields callers branch on survive. */
export interface WorkerError {
  message: string; code?: string; detail?: string; hint?: string; severity?: string
  constraint?: string; table?: string; column?: string; position?: string
}

export type WorkerResponse =
  | { id: number; ok: true; result: WorkerRows }
  | { id: number; ok: false; error: WorkerError }

/** A NOTIFY on a channel the worker LISTENs to, sent unasked (no request id). */
export interface WorkerNotification { notification: { channel: string; payload: string } }

export type WorkerReady = { ready: true } | { ready: false; error: WorkerError }
