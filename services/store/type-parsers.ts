// The one place where database values become JSON-ready JS values, for both backends:
// int8 and numeric become numbers (pg gives strings, PGlite gives bigint past 2^53), timestamptz a Date.
export const PG_OID = { INT8: 20, NUMERIC: 1700, TIMESTAMPTZ: 1184, TIMESTAMP: 1114 } as const

export const parseInt8 = (text: string): number => Number(text)
export const parseNumeric = (text: string): number => Number(text)

/** Parsers keyed by type OID, in the shape PGlite's `parsers` option takes. */
export const pgliteParsers: Record<number, (text: string) => unknown> = {
  [PG_OID.INT8]: parseInt8,
  [PG_OID.NUMERIC]: parseNumeric,
}

/** Same parsers for node-postgres, falling back to pg's own for every other type. */
export function pgTypeParser(
  fallback: (oid: number, format?: 'text' | 'binary') => (text: string) => unknown,
): (oid: number, format?: 'text' | 'binary') => (text: string) => unknown {
  return (oid, format) => pgliteParsers[oid] ?? fallback(oid, format)
}
