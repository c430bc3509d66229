// Expands a Grafana PostgreSQL panel query the way Grafana does before it reaches the database, so the
// dashboards' SQL can run against a test store. Handled, as Grafana's SQL datasource renders them:
//   $__timeFilter(col)  → col BETWEEN '<from ISO>' AND '<to ISO>'
//   $__timeFrom()       → '<from ISO>'            $__timeTo() → '<to ISO>'
//   $__interval_ms      → the interval in milliseconds (a number)
//   $__interval         → the interval as Grafana writes it: 500ms, 10s, 1m, 1h, 1d
//   $name, ${name}      → the template variable's value, as is (single-value variables; the SQL quotes it)
// Any other $__ macro, or a template variable with no value given, throws: a dashboard that uses one
// must teach this expander first, so no query runs here half-expanded.

export interface GrafanaQueryContext {
  from: Date
  to: Date
  intervalMs: number
  variables: Record<string, string>
}

const HANDLED = new Set(['timeFilter', 'timeFrom', 'timeTo', 'interval', 'interval_ms'])

/** Grafana's interval text: the largest whole unit (kbn.secondsToHms without fractional units). */
export function intervalText(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]]
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}

export function expandGrafanaMacros(query: string, ctx: GrafanaQueryContext): string {
  for (const m of query.matchAll(/\$__(\w+)/g)) {
    if (!HANDLED.has(m[1])) throw new Error(`the Grafana macro $__${m[1]} is not handled by test/deploy/grafana-macros.ts; teach it there`)
  }
  const from = `'${ctx.from.toISOString()}'`
  const to = `'${ctx.to.toISOString()}'`
  let out = query
    .replace(/\$__timeFilter\(([^()]+)\)/g, (_, col: string) => `${col.trim()} BETWEEN ${from} AND ${to}`)
    .replace(/\$__timeFrom\(\)/g, from)
    .replace(/\$__timeTo\(\)/g, to)
    .replace(/\$__interval_ms\b/g, String(ctx.intervalMs))
    .replace(/\$__interval\b/g, intervalText(ctx.intervalMs))
  if (/\$__/.test(out)) throw new Error(`a Grafana macro is left after expansion (bad arguments?): ${/\$__\w+[^\n]{0,40}/.exec(out)?.[0]}`)
  out = out.replace(/\$\{(\w+)\}|\$([A-Za-z_]\w*)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!
    const value = ctx.variables[name]
    if (value === undefined) throw new Error(`template variable $${name} has no value in this test`)
    return value
  })
  return out
}
