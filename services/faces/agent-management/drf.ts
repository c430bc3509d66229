// Django REST Framework's conventions on seed 003's routes: `{"detail": "…"}` for 401/403/404 (and any
// error that names no field), `{"<field>": ["…"]}` for a 400, and page-number pagination.
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { DomainError } from '../../errors/domain-error.ts'

export { drfErrorBody } from '../django-errors.ts'

export const MAX_PAGE_SIZE = 500
export const DEFAULT_PAGE_SIZE = 50

/**
 * `?page=` and `?page_size=` as DRF's PageNumberPagination reads them: a page size past 500 is 500, and one
 * that is no positive whole number is the default; a page that is no whole number from 1 is 404 "Invalid page."
 */
export const PageQuery = {
  page: Type.Optional(Type.String({ maxLength: 32, description: 'page number, from 1' })),
  page_size: Type.Optional(Type.String({ maxLength: 32, description: `rows per page (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})` })),
}
export interface PageQuery { page?: string | number; page_size?: string | number }

/** Python's int() of a query value: digits, a sign and surrounding blanks allowed. */
function wholeNumber(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined
  const text = String(v).trim()
  return /^[+-]?\d{1,16}$/.test(text) ? Number(text) : undefined
}

export interface Page<T> { count: number; next: string | null; previous: string | null; results: T[] }

/** The rows to skip and take for a page query. */
export function pageWindow(q: PageQuery): { offset: number; limit: number; page: number; size: number } {
  const page = q.page === undefined ? 1 : wholeNumber(q.page)
  if (page === undefined || page < 1 || page > 1_000_000) throw new DomainError('not_found', 'Invalid page.')
  const asked = wholeNumber(q.page_size)
  const size = asked === undefined || asked < 1 ? DEFAULT_PAGE_SIZE : Math.min(asked, MAX_PAGE_SIZE)
  return { offset: (page - 1) * size, limit: size, page, size }
}

/**
 * `{"count","next","previous","results"}` with absolute links to the neighbouring pages, as DRF writes them.
 * A page past the last is DRF's 404 `{"detail": "Invalid page."}`; the first page of nothing is an empty page.
 */
export function pageOf<T>(request: FastifyRequest, q: PageQuery, count: number, results: T[]): Page<T> {
  const { page, size } = pageWindow(q)
  if (page > 1 && (page - 1) * size >= count) throw new DomainError('not_found', 'Invalid page.')
  const link = (n: number) => {
    const url = new URL(request.url, `${request.protocol}://${request.host}`)
    url.searchParams.set('page', String(n))
    if (q.page_size !== undefined) url.searchParams.set('page_size', String(size))
    return url.toString()
  }
  return {
    count,
    next: page * size < count ? link(page + 1) : null,
    previous: page > 1 ? link(page - 1) : null,
    results,
  }
}

/** A DRF paginated response's schema around an item schema. */
export const PageOf = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({
  count: Type.Integer(), next: Type.Union([Type.String(), Type.Null()]), previous: Type.Union([Type.String(), Type.Null()]), results: Type.Array(item),
})
