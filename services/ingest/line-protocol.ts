// InfluxDB line protocol (v2 reference: docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol),
// parsed into points; pure, no I/O. `measurement[,tag=v…] field=v[,field=v…] [timestamp]`, one per line.
//   measurement: `\,` and `\ ` are escapes; tag keys, tag values, field keys also `\=`; any other
//   backslash is literal. String field values are "quoted" with `\"` and `\\` as escapes.
//   Values: floats `1.5` `-2e3`, integers `42i`, unsigned `42u`, booleans t/T/true/True/TRUE f/F/false/False/FALSE.
//   Lines whose first non-blank character is `#` are comments; blank lines are skipped. A string field
//   may not span lines (line protocol allows it; hostpulse stores no strings, so it is refused as a line error).
//   Integers beyond ±2^53 are refused: values are stored as float8, which would round them without a word.

/** Timestamp units: InfluxDB 2's ns, us, ms, s and InfluxDB 1.x's minutes and hours. */
export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h'

export type FieldValue =
  | { kind: 'float' | 'integer' | 'unsigned'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'string'; value: string }

export interface LinePoint {
  /** 1-based line number in the request body. */
  line: number
  measurement: string
  tags: Record<string, string>
  fields: Record<string, FieldValue>
  /** Nanoseconds since the epoch after applying the precision; null when the line has none. */
  timestampNs: bigint | null
}

export interface ParsedBody { points: LinePoint[]; errors: Array<{ line: number; message: string }> }

const NS_PER: Record<Precision, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n }
/** The largest integer a float8 holds exactly: 2^53 + 1 would be stored as 2^53. */
export const MAX_EXACT_INTEGER = 2n ** 53n
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)
const UINT64_MAX = 2n ** 64n - 1n
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE'])
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE'])
const FLOAT = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/

class LineError extends Error {}

/** Reads one line; `pos` walks through it. */
class LineScanner {
  pos = 0
  constructor(readonly text: string) {}

  get done(): boolean { return this.pos >= this.text.length }
  peek(): string { return this.text[this.pos] }

  /** An escaped token up to an unescaped stop character; `escapable` are the characters `\` may escape. */
  token(stops: string, escapable: string, what: string): string {
    // Copied in slices between escapes: a token without backslashes is one slice.
    let out = ''
    let from = this.pos
    while (!this.done) {
      const c = this.text[this.pos]
      if (c === '\\' && this.pos + 1 < this.text.length && escapable.includes(this.text[this.pos + 1])) {
        out += this.text.slice(from, this.pos) + this.text[this.pos + 1]
        this.pos += 2
        from = this.pos
        continue
      }
      if (stops.includes(c)) break
      this.pos++
    }
    out += this.text.slice(from, this.pos)
    if (out.length === 0) throw new LineError(`${what} is empty${this.done ? ' (the line ends early)' : ` at column ${this.pos + 1}`}`)
    return out
  }

  expect(c: string, context: string): void {
    if (this.text[this.pos] !== c) {
      throw new LineError(this.done ? `the line ends where ${context} expects "${c}"` : `expected "${c}" ${context} at column ${this.pos + 1}, found "${this.text[this.pos]}"`)
    }
    this.pos++
  }

  /** A quoted string field value, the opening quote at `pos`. */
  quoted(key: string): string {
    this.pos++
    let out = ''
    while (!this.done) {
      const c = this.text[this.pos]
      if (c === '\\' && (this.text[this.pos + 1] === '"' || this.text[this.pos + 1] === '\\')) {
        out += this.text[this.pos + 1]
        this.pos += 2
        continue
      }
      if (c === '"') { this.pos++; return out }
      out += c
      this.pos++
    }
    throw new LineError(`string value of field "${key}" has no closing quote`)
  }
}

function exactInFloat8(n: bigint, raw: string, key: string): void {
  if (n > MAX_EXACT_INTEGER || n < -MAX_EXACT_INTEGER) {
    throw new LineError(`integer value of field "${key}" (${raw}) is beyond ±2^53 (${MAX_EXACT_INTEGER}): hostpulse stores values as float8, `
      + 'which would round it; send it without the i/u suffix to store it as a (rounded) float')
  }
}

function parseFieldValue(raw: string, key: string): FieldValue {
  if (TRUE.has(raw)) return { kind: 'boolean', value: true }
  if (FALSE.has(raw)) return { kind: 'boolean', value: false }
  const last = raw[raw.length - 1]
  if (last === 'i' && /^[-+]?\d+i$/.test(raw)) {
    const n = BigInt(raw.slice(0, -1))
    if (n > INT64_MAX || n < INT64_MIN) throw new LineError(`integer value of field "${key}" is out of the int64 range`)
    exactInFloat8(n, raw, key)
    return { kind: 'integer', value: Number(n) }
  }
  if (last === 'u' && /^\d+u$/.test(raw)) {
    const n = BigInt(raw.slice(0, -1))
    if (n > UINT64_MAX) throw new LineError(`unsigned value of field "${key}" is out of the uint64 range`)
    exactInFloat8(n, raw, key)
    return { kind: 'unsigned', value: Number(n) }
  }
  if (FLOAT.test(raw)) {
    const v = Number(raw)
    if (!Number.isFinite(v)) throw new LineError(`value of field "${key}" is out of the float64 range`)
    return { kind: 'float', value: v }
  }
  throw new LineError(`value of field "${key}" is not a number, integer (42i), unsigned (42u), boolean or "quoted string": ${JSON.stringify(raw.slice(0, 64))}`)
}

function parseLine(text: string, line: number, precision: Precision): LinePoint {
  if (text.includes('\u0000')) throw new LineError('contains a NUL character')
  const s = new LineScanner(text)
  const measurement = s.token(', ', ', ', 'measurement')
  const tags: Record<string, string> = {}
  while (s.peek() === ',') {
    s.pos++
    const key = s.token('=, ', ',= ', 'tag key')
    s.expect('=', `after tag key "${key}"`)
    tags[key] = s.token(', =', ',= ', `value of tag "${key}"`)
  }
  if (s.done) throw new LineError('has no field set (expected a space, then field=value)')
  s.expect(' ', 'before the field set')
  const fields: Record<string, FieldValue> = {}
  for (;;) {
    const key = s.token('=, ', ',= ', 'field key')
    s.expect('=', `after field key "${key}"`)
    if (s.peek() === '"') {
      fields[key] = { kind: 'string', value: s.quoted(key) }
    } else {
      const start = s.pos
      while (!s.done && s.peek() !== ',' && s.peek() !== ' ') s.pos++
      if (s.pos === start) throw new LineError(`field "${key}" has no value`)
      fields[key] = parseFieldValue(text.slice(start, s.pos), key)
    }
    if (s.peek() !== ',') break
    s.pos++
  }
  let timestampNs: bigint | null = null
  if (!s.done) {
    s.expect(' ', 'after the field set')
    const raw = text.slice(s.pos).trimEnd()
    if (raw.length > 0) {
      if (!/^-?\d{1,19}$/.test(raw)) throw new LineError(`timestamp is not an integer: ${JSON.stringify(raw.slice(0, 64))}`)
      timestampNs = BigInt(raw) * NS_PER[precision]
    }
  }
  return { line, measurement, tags, fields, timestampNs }
}

/** Every point of a body, and every line that is not line protocol with its reason. */
export function parseLineProtocol(body: string, precision: Precision = 'ns'): ParsedBody {
  const points: LinePoint[] = []
  const errors: ParsedBody['errors'] = []
  const lines = body.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i]
    const start = text.search(/\S/)
    if (start === -1 || text[start] === '#') continue
    try {
      points.push(parseLine(text.slice(start), i + 1, precision))
    } catch (err) {
      if (!(err instanceof LineError)) throw err
      errors.push({ line: i + 1, message: err.message })
    }
  }
  return { points, errors }
}

/**
 * A name as the metrics table spells it: lower-case, every character outside [a-z0-9_] becomes `_`
 * (`CPU.Usage-Idle` → `cpu_usage_idle`).
 */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_]/g, '_')
}
