// Runs many API calls a few at a time, so a large fleet does not burst past the server's rate budget.
export async function eachLimited(items, limit, fn) {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]
      await fn(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
