// Array parameters in PostgreSQL's binary format (array_recv), for the large unnest arrays of an ingest.
// Sent as text, every element is parsed by the engine: on the embedded (WebAssembly) engine that is about
// 1 µs per timestamp, uuid or float, most of the cost of writing a fleet's process rows. In binary a float is
// its 8 bytes and a timestamp its microseconds. Both drivers send a Buffer parameter in binary (pg's bind,
// and PGlite's once the worker lets it through: pglite-worker.ts), so one encoding serves both backends.
//
// The stored values must be exactly what the text path stores. An array holding anything this encoder is
// not sure of (a time that is not strict RFC 3339, a uuid in another spelling, a number where a string is
// expected, a NUL in a text) is not encoded: the caller sends it as text, and the engine accepts or refuses
// it as before.

/** Element types this encodes, with their type OIDs (array_recv checks the element type against the cast). */
const ELEMENT_OIDS = { bool: 16, int8: 20, int4: 23, text: 25, float8: 701, timestamptz: 1184, uuid: 2950 } as const
export type BinaryElementType = keyof typeof ELEMENT_OIDS

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC). */
const PG_EPOCH_MICROS = 946_684_800_000_000n

/** Strict RFC 3339 with an offset: what every timestamp of the wire contract is. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/i
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const INT4_MIN = -(2 ** 31)
const INT4_MAX = 2 ** 31 - 1

/** A timestamp's microseconds since the Unix epoch, or undefined when it is not one this encodes exactly. */
export function timestampMicros(value: unknown): bigint | undefined {
  if (value instanceof Date) {
    const ms = value.getTime()
    return Number.isFinite(ms) ? BigInt(ms) * 1000n : undefined
  }
  if (typeof value !== 'string') return undefined
  const m = RFC3339.exec(value)
  if (!m) return undefined
  const [, year, month, day, hour, minute, second, fraction = '', zone] = m
  // Date.parse would roll 2026-02-30 over into March where PostgreSQL refuses it: the fields must come back.
  const wholeSeconds = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second))
  const back = new Date(wholeSeconds)
  if (back.getUTCFullYear() !== Number(year) || back.getUTCDate() !== Number(day) || back.getUTCMonth() !== Number(month) - 1
    || back.getUTCHours() !== Number(hour) || back.getUTCMinutes() !== Number(minute) || back.getUTCSeconds() !== Number(second)) return undefined
  let offsetMinutes = 0
  if (zone.toUpperCase() !== 'Z') {
    const hours = Number(zone.slice(1, 3))
    const minutes = Number(zone.slice(4, 6))
    if (hours > 15 || minutes > 59) return undefined
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes)
  }
  return BigInt(wholeSeconds - offsetMinutes * 60_000) * 1000n + BigInt(fraction.padEnd(6, '0'))
}

/**
 * One element's size in bytes, or -1 when it is not one this encodes exactly. Timestamps are converted
 * here once and kept in `micros` (by position) for the write.
 */
function elementBytes(type: BinaryElementType, value: unknown, micros: bigint[], at: number): number {
  switch (type) {
    case 'float8':
      return typeof value === 'number' ? 8 : -1
    case 'int4':
      return typeof value === 'number' && Number.isInteger(value) && value >= INT4_MIN && value <= INT4_MAX ? 4 : -1
    case 'int8':
      if (typeof value === 'bigint') return value >= -(2n ** 63n) && value < 2n ** 63n ? 8 : -1
      return typeof value === 'number' && Number.isSafeInteger(value) ? 8 : -1
    case 'timestamptz': {
      const m = timestampMicros(value)
      if (m === undefined) return -1
      micros[at] = m - PG_EPOCH_MICROS
      return 8
    }
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? 16 : -1
    case 'text':
      return typeof value === 'string' && !value.includes('\u0000') ? Buffer.byteLength(value, 'utf8') : -1
    case 'bool':
      return typeof value === 'boolean' ? 1 : -1
  }
}

/** Writes one element (already checked by elementBytes) at `offset`. */
function writeElement(out: Buffer, offset: number, type: BinaryElementType, value: unknown, micros: bigint[], at: number): void {
  switch (type) {
    // The text path sends -0 as "0": so does this.
    case 'float8': out.writeDoubleBE(value === 0 ? 0 : value as number, offset); break
    case 'int4': out.writeInt32BE(value as number, offset); break
    case 'int8': out.writeBigInt64BE(BigInt(value as number | bigint), offset); break
    case 'timestamptz': out.writeBigInt64BE(micros[at], offset); break
    case 'uuid': out.write((value as string).replaceAll('-', ''), offset, 16, 'hex'); break
    case 'text': out.write(value as string, offset, 'utf8'); break
    case 'bool': out[offset] = value ? 1 : 0; break
  }
}

/**
 * `values` (null for NULL) as a one-dimensional array in binary, or undefined when one of them is not
 * encoded exactly (or there are none): send the JavaScript array then. One buffer, sized first.
 */
export function binaryArray(type: BinaryElementType, values: readonly unknown[]): Buffer | undefined {
  if (values.length === 0) return undefined
  const sizes = new Int32Array(values.length)
  const micros: bigint[] = []
  let total = 20 + 4 * values.length
  let hasNull = 0
  for (let i = 0; i < values.length; i++) {
    const value = values[i]
    if (value === null || value === undefined) {
      hasNull = 1
      sizes[i] = -1
      continue
    }
    // A batch's rows repeat its time, agent and batch id: a value like the one before is not checked again.
    if (i > 0 && value === values[i - 1]) {
      sizes[i] = sizes[i - 1]
      if (type === 'timestamptz') micros[i] = micros[i - 1]
      total += sizes[i]
      continue
    }
    const bytes = elementBytes(type, value, micros, i)
    if (bytes < 0) return undefined
    sizes[i] = bytes
    total += bytes
  }
  const out = Buffer.allocUnsafe(total)
  out.writeInt32BE(1, 0) // dimensions
  out.writeInt32BE(hasNull, 4)
  out.writeInt32BE(ELEMENT_OIDS[type], 8)
  out.writeInt32BE(values.length, 12)
  out.writeInt32BE(1, 16) // lower bound
  let offset = 20
  for (let i = 0; i < values.length; i++) {
    out.writeInt32BE(sizes[i], offset)
    offset += 4
    if (sizes[i] < 0) continue
    writeElement(out, offset, type, values[i], micros, i)
    offset += sizes[i]
  }
  return out
}
