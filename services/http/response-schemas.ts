// Response schemas shared by route families: they document each answer in the OpenAPI document and let
// Fastify serialize it. Nullable fields are `T | null`; times are RFC3339 strings.
import { Type, type TSchema } from 'typebox'

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
export const Time = Type.String({ format: 'date-time' })

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'BAD_REQUEST, VALIDATION_ERROR, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMITED, …' }),
  message: Type.String(),
  code: Type.Integer(),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
})

/** The error answers every authenticated route can give. */
export const ERRORS = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody }
export const WRITE_ERRORS = { ...ERRORS, 403: ErrorBody, 409: ErrorBody }

export const NoContent = Type.Null({ description: 'No Content' })
