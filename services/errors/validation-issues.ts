// Schema validation issues (ajv, TypeBox) → field paths people read and an `invalid` DomainError naming them.
import { DomainError } from './domain-error.ts'

export interface ValidationIssue { instancePath: string; message?: string; params?: Record<string, unknown>; keyword?: string }

/** `/metrics/3/value` (JSON pointer) → `metrics[3].value`, the way people read field names. */
export function fieldPath(pointer: string, prefix = ''): string {
  const parts = pointer.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  let out = prefix
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p
  return out || '(body)'
}

/** Field → messages; a missing property is named itself, not its parent. */
export function validationDetails(issues: ValidationIssue[], prefix = ''): Record<string, string[]> {
  // No prototype: a field named `valueOf` or `__proto__` is a field like any other (it was a 500).
  const details: Record<string, string[]> = Object.create(null)
  for (const issue of issues) {
    const add = (pointer: string, message: string) => { (details[fieldPath(pointer, prefix)] ??= []).push(message) }
    const params = (issue.params ?? {}) as { missingProperty?: string; requiredProperties?: string[]; additionalProperty?: string }
    if (issue.keyword === 'required') {
      const missing = params.requiredProperties ?? (params.missingProperty ? [params.missingProperty] : [])
      for (const name of missing) add(`${issue.instancePath}/${name}`, 'is required')
      if (missing.length === 0) add(issue.instancePath, issue.message ?? 'is required')
    } else if (issue.keyword === 'additionalProperties' && params.additionalProperty) {
      add(`${issue.instancePath}/${params.additionalProperty}`, 'is not allowed')
    } else if (issue.keyword === 'enum' && Array.isArray(issue.params?.allowedValues)) {
      add(issue.instancePath, `must be one of: ${(issue.params.allowedValues as unknown[]).join(', ')}`)
    } else {
      add(issue.instancePath, issue.message ?? 'is invalid')
    }
  }
  return details
}

function describe(details: Record<string, string[]>): string {
  const [field, messages] = Object.entries(details)[0] ?? ['(body)', ['is invalid']]
  const more = Object.keys(details).length - 1
  return `${field} ${messages[0]}${more > 0 ? ` (and ${more} more field${more > 1 ? 's' : ''})` : ''}`
}

/** "Invalid request: <first field> <problem> (and N more fields)", every field in details. */
export function invalidInput(issues: ValidationIssue[], prefix = ''): DomainError {
  const details = validationDetails(issues, prefix)
  return new DomainError('invalid', `Invalid request: ${describe(details)}`, { details })
}
