// Words seed 003's clients write in filters and bodies → native values: alert levels (the native three, and
// the seed's other words as synonyms: low → info, medium → warning, high and error → critical) and the
// booleans of a query string as Django writes them (true/false, True/False, 1/0).
import { Type } from 'typebox'
import type { AlertSeverity } from '../../store/database.ts'

const LEVELS = {
  info: 'info', low: 'info',
  warning: 'warning', medium: 'warning',
  critical: 'critical', high: 'critical', error: 'critical',
} as const satisfies Record<string, AlertSeverity>

export type LevelWord = keyof typeof LEVELS
export const LevelWord = (description: string) => Type.Unsafe<LevelWord>({ type: 'string', enum: Object.keys(LEVELS), description })
export const severityOf = (word: LevelWord): AlertSeverity => LEVELS[word]

const BOOLEANS = { true: true, True: true, 1: true, false: false, False: false, 0: false } as const
export type BooleanWord = keyof typeof BOOLEANS
export const BooleanWord = (description: string) => Type.Unsafe<BooleanWord>({ type: 'string', enum: Object.keys(BOOLEANS), description })
export const booleanOf = (word: BooleanWord | undefined): boolean | undefined => (word === undefined ? undefined : BOOLEANS[word])
