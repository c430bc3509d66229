// Django REST Framework's conventions on seed 003's routes: `{"detail": "…"}` for 401/403/404 (and any
// error that names no field), `{"<field>": ["…"]}` for a 400, and page-number pagination.
import type { FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { DomainError } from '../../errors/domain-error.ts'

export { drfErrorBody } from '../django-errors.ts'

export const MAX_PAGE_SIZE = 500
export const DEFAULT_PAGE_SIZE = 50

/** `?page=` (from 1) and `?page_size=` (at most 500), as DRF's PageNumberPagination reads them. */
export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })),
}
const PageQueryObject = Type.Object(PageQuery)
export type PageQuery = Static<typeof PageQueryObject>

export interface Page<T> { count: number; next: string | null; previous: string | null; results: T[] }

/** The rows to skip and take for a page query. */
export function pageWindow(q: PageQuery): { offset: number; limit: number; page: number; size: number } {
  const page = q.page ?? 1
  const size = q.page_size ?? DEFAULT_PAGE_SIZE
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
