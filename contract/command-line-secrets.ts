// Credentials in process command lines, replaced by *** before a process list leaves the agent and again
// before the server stores, publishes or evaluates one (other agents send lists nobody scrubbed).
// One set of rules, imported by both sides; each rule keeps the line's shape so it still reads.

export const REDACTED = '***'

/** A name holding one of these anywhere is a secret's name (PGPASSWORD, keyStorePassword, client_secret). */
const SECRET_FRAGMENTS = ['password', 'passwd', 'passphrase', 'secret', 'credential']
/** A name with one of these as a whole word (split at - _ . and camelCase), or a word ending in "token". */
const SECRET_WORDS = new Set(['token', 'key', 'apikey', 'accesskey', 'privatekey', 'auth', 'pwd', 'pw', 'pass', 'passin', 'passout'])
/** A name ending in one of these points at or describes a secret instead of holding it (--password-file /run/pw). */
const DESCRIBING_WORDS = new Set([
  'file', 'path', 'dir', 'id', 'name', 'type', 'url', 'env', 'length', 'len', 'size', 'ttl', 'timeout', 'expiry',
  'command', 'cmd', 'prompt', 'source', 'method', 'mechanism', 'mode', 'db', 'database', 'host', 'server', 'endpoint',
  'provider', 'scheme', 'algorithm', 'bits', 'format', 'store', 'ring', 'fd',
])
/** `Authorization: Bearer x`: the scheme word stays, the credential after it goes. */
const AUTH_SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'negotiate', 'apikey'])

/** Clients that take a password as a short flag: `mysql -pSecret`, `redis-cli -a Secret`, `curl -u user:pass`. */
interface ClientPasswordFlag {
  clients: readonly string[]
  flag: string
  /** mysql's `-p value` asks for the password and names a database: only the attached form holds one. */
  attachedOnly: boolean
  /** `user:password`: the user stays. */
  afterColon: boolean
}
const MYSQL_CLIENTS = ['mysql', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlcheck', 'mysqlshow', 'mysqlpump', 'mysqlslap',
  'mysqlbinlog', 'mariadb', 'mariadb-dump', 'mariadb-admin', 'mariadb-import', 'mariadb-check', 'mariadb-show', 'mariadb-slap',
  'mariadb-binlog', 'mariadb-backup', 'mariabackup', 'xtrabackup']
const MONGO_CLIENTS = ['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport', 'mongostat', 'mongotop', 'mongofiles']
const CLIENT_PASSWORD_FLAGS: readonly ClientPasswordFlag[] = [
  { clients: MYSQL_CLIENTS, flag: 'p', attachedOnly: true, afterColon: false },
  { clients: MONGO_CLIENTS, flag: 'p', attachedOnly: false, afterColon: false },
  { clients: ['sshpass'], flag: 'p', attachedOnly: false, afterColon: false },
  { clients: ['redis-cli', 'valkey-cli', 'keydb-cli'], flag: 'a', attachedOnly: false, afterColon: false },
  { clients: ['curl', 'wget2'], flag: 'u', attachedOnly: false, afterColon: true },
]
const CLIENT_FLAGS = new Map<string, ClientPasswordFlag[]>()
for (const entry of CLIENT_PASSWORD_FLAGS) {
  for (const client of entry.clients) CLIENT_FLAGS.set(client, [...(CLIENT_FLAGS.get(client) ?? []), entry])
}

/** `scheme://user:password@host`: the user stays. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"']*):([^\s@/"']+)@/gi
/** hostpulse's own agent keys, wherever they appear. */
const HOSTPULSE_KEY = /\bhp_[A-Za-z0-9_-]{20,}/g
/** A cheap first look: a line with none of these needs only the URL, key and extra patterns. */
const MAYBE_SECRET = /pass|pwd|pw[=:\s]|secret|token|key|auth|cred|\s-[pau]/i

const QUOTES = new Set(['"', "'"])

function wordsOf(name: string): string[] {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean)
}

/** Whether an option, variable or header of this name holds a secret: `--api-key`, `DB_PASSWORD`, `X-Auth-Token`. */
export function isSecretName(name: string): boolean {
  const words = wordsOf(name)
  if (words.length === 0 || words[0] === 'no' || DESCRIBING_WORDS.has(words[words.length - 1])) return false
  const lower = name.toLowerCase()
  if (SECRET_FRAGMENTS.some((f) => lower.includes(f))) return true
  return words.some((w) => SECRET_WORDS.has(w) || (w.endsWith('token') && w !== 'tokenizer'))
}

interface Token { text: string; start: number; end: number }

/**
 * Applies the built-in rules: secret-named options (`--token X`, `--password=X`, `-Dx.password=X`), `NAME=value`
 * and `Header: value` pairs with a secret name, client password flags (`mysql -pX`), `Authorization: Bearer X`,
 * `user:password@` in URLs and hostpulse keys; then `extra` patterns, each match replaced whole.
 * Idempotent: scrubbing a scrubbed line changes nothing.
 */
export function scrubCommandLine(line: string, extra: readonly RegExp[] = []): string {
  let out = MAYBE_SECRET.test(line) ? scrubTokens(line) : line
  if (out.includes('://')) out = out.replace(URL_USERINFO, `$1:${REDACTED}@`)
  if (out.includes('hp_')) out = out.replace(HOSTPULSE_KEY, REDACTED)
  for (const pattern of extra) out = out.replace(pattern, REDACTED)
  return out
}

function scrubTokens(line: string): string {
  const tokens: Token[] = []
  for (const m of line.matchAll(/\S+/g)) tokens.push({ text: m[0], start: m.index, end: m.index + m[0].length })
  const cuts: Array<[number, number]> = []
  let resumeAt = 0
  const activeFlags: ClientPasswordFlag[] = []

  /** Redacts the value starting at `pos` (inside token i); a quoted value runs to its closing quote. */
  const redactFrom = (pos: number, i: number, afterColon = false): void => {
    const open = line[pos]
    if (QUOTES.has(open)) {
      const close = line.indexOf(open, pos + 1)
      const end = close < 0 ? tokens[i].end : close
      cut(pos + 1, end, afterColon)
      resumeAt = close < 0 ? tokens[i].end : close + 1
      return
    }
    let end = tokens[i].end
    while (end > pos && QUOTES.has(line[end - 1])) end--
    cut(pos, end, afterColon)
    resumeAt = tokens[i].end
  }
  const cut = (start: number, end: number, afterColon: boolean): void => {
    if (afterColon) {
      const colon = line.indexOf(':', start)
      if (colon < 0 || colon >= end) return
      start = colon + 1
    }
    if (end > start) cuts.push([start, end])
  }
  /** The value in the next token, unless that is the next option. */
  const redactNext = (i: number, afterColon = false): void => {
    const next = tokens[i + 1]
    if (next && !next.text.startsWith('-')) redactFrom(next.start, i + 1, afterColon)
  }

  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]
    if (token.start < resumeAt) continue
    // A leading quote or parenthesis belongs to a shell script around the word (sh -c "mysql -pX").
    const lead = /^["'(]*/.exec(token.text)![0].length
    const bare = token.text.slice(lead)
    const at = token.start + lead
    const base = bare.slice(bare.lastIndexOf('/') + 1).replace(/["')]+$/, '')
    const clientFlags = CLIENT_FLAGS.get(base)
    if (clientFlags) { activeFlags.push(...clientFlags); continue }

    // `Authorization: Bearer X` as its own words or inside an option (--header=Authorization: Bearer X).
    if (/(?:^|[=:])(?:proxy-)?authorization:$/i.test(bare)) {
      const next = tokens[i + 1]
      redactNext(next && AUTH_SCHEMES.has(next.text.replace(/^["']/, '').toLowerCase()) ? i + 1 : i)
      continue
    }
    if (bare.startsWith('-')) {
      // A client's own short flag first: mysql's -pX would otherwise read as an option named "pX".
      const flag = bare.startsWith('--') ? undefined : activeFlags.find((f) => bare.startsWith(`-${f.flag}`))
      if (flag && bare.length > 2) redactFrom(at + 2, i, flag.afterColon)
      else if (flag && !flag.attachedOnly) redactNext(i, flag.afterColon)
      else if (!flag) {
        const m = /^-{1,2}([A-Za-z][\w.-]*)(=?)/.exec(bare)
        if (m && isSecretName(m[1])) {
          if (m[2]) redactFrom(at + m[0].length, i)
          else if (m[0].length === bare.length) redactNext(i)
        }
      }
      continue
    }
    let m = /^([A-Za-z][\w-]*):$/.exec(bare)
    if (m) {
      if (isSecretName(m[1])) redactNext(i)
      continue
    }
    m = /^([A-Za-z_][\w.-]*)[=:](?=.)/.exec(bare)
    if (m && !bare.startsWith(`${m[1]}://`) && isSecretName(m[1])) redactFrom(at + m[0].length, i)
  }
  if (cuts.length === 0) return line
  let out = ''
  let from = 0
  for (const [start, end] of cuts.sort((a, b) => a[0] - b[0])) {
    if (start < from) continue
    out += line.slice(from, start) + REDACTED
    from = end
  }
  return out + line.slice(from)
}

/**
 * An extra pattern as an operator writes it: `/regex/flags` or a bare regex (case-sensitive). Throws with
 * the reason when it does not compile, so a configuration mistake stops the start instead of leaking.
 */
export function parseScrubPattern(text: string): RegExp {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(text)
  const [source, flags] = literal ? [literal[1], literal[2]] : [text, '']
  if (source.length === 0) throw new Error('an empty pattern would match everywhere')
  const regex = new RegExp(source, flags.includes('g') ? flags : `${flags}g`)
  if (regex.test('')) throw new Error(`pattern ${text} matches the empty string, so it would not hide anything`)
  return regex
}
