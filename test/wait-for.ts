// Waiting for a condition instead of sleeping: tests and benchmarks poll with a deadline.

type Truthy<T> = Exclude<T, null | undefined | false | 0 | ''>

/** Polls `check` until it returns a truthy value; after `timeoutMs` throws an error naming `what`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 50): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as Truthy<T>
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
