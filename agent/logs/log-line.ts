// A raw line of text as the wire contract takes it: storable text (no NUL, no lone surrogate), at most the
// contract's length, and a level guessed from the first level word in it.
import type { LOG_LEVELS, LogItem } from '../../contract/ingest-batch.ts'

/** The contract's longest message (LogItem.message maxLength), in UTF-16 code units. */
export const MAX_MESSAGE_LENGTH = 16_384
export type LogLevel = (typeof LOG_LEVELS)[number]


const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** PostgreSQL text holds neither NUL nor a lone surrogate (the server refuses a batch with one). */
export function storableText(text: string, max = MAX_MESSAGE_LENGTH): string {
  let out = text.replace(UNSTORABLE, (c) => (c === '\u0000' ? '' : '\ufffd'))
  if (out.length > max) {
    // Never cut a surrogate pair in half.
    const cut = /[\ud800-\udbff]/.test(out[max - 1]) ? max - 1 : max
    out = out.slice(0, cut)
  }
  return out
}

const LEVEL_WORD = /\b(emerg|emergency|crit|critical|fatal|panic|err|error|exception|warn|warning|notice|info|information|debug|trace)\b/i
const LEVEL_OF: Record<string, LogLevel> = {
  emerg: 'critical', emergency: 'critical', crit: 'critical', critical: 'critical', fatal: 'critical', panic: 'critical',
  err: 'error', error: 'error', exception: 'error', warn: 'warning', warning: 'warning', notice: 'notice',
  info: 'info', information: 'info', debug: 'debug', trace: 'debug',
}

/** The first level word decides ("INFO retrying after error" is info); none means info. */
export function guessLevel(message: string): LogLevel {
  const m = LEVEL_WORD.exec(message.slice(0, 512))
  return m ? LEVEL_OF[m[1].toLowerCase()] : 'info'
}

/** Source names are at most 255 characters: a long path keeps its end, which names the file. */
export function sourceName(text: string): string {
  const clean = storableText(text, 1 << 20)
  return clean.length <= 255 ? clean || 'unknown' : storableText(`…${clean.slice(-254)}`)
}
