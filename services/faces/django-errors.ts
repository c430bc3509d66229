// Django's way of saying what is wrong with a field: "This field is required.", one sentence per problem.
// Seeds 000 and 003 are both Django apps; their faces word field errors the same way.
import type { ErrorBody } from '../http/errors.ts'

/** "is required" → "This field is required."; any other problem becomes a sentence about "this field". */
export function djangoMessage(problem: string): string {
  if (problem === 'is required') return 'This field is required.'
  const sentence = /^(is|must|should|has|was)\b/.test(problem) ? `This field ${problem}` : problem.charAt(0).toUpperCase() + problem.slice(1)
  return sentence.endsWith('.') ? sentence : `${sentence}.`
}

/** The field → messages of a 400, in Django's words; undefined when the error names no field. */
export function djangoFieldErrors(body: ErrorBody): Record<string, string[]> | undefined {
  if (body.code !== 400 || !body.details) return undefined
  const fields: Record<string, string[]> = {}
  for (const [field, problems] of Object.entries(body.details)) {
    if (!Array.isArray(problems)) continue
    fields[field === '(body)' ? 'non_field_errors' : field] = problems.map((p) => djangoMessage(String(p)))
  }
  return Object.keys(fields).length > 0 ? fields : undefined
}

/** Django REST Framework's error body: the fields of a 400, else `{"detail": "…"}`. */
export function drfErrorBody(body: ErrorBody): unknown {
  return djangoFieldErrors(body) ?? { detail: body.message }
}
