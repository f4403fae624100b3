import type { z } from 'zod'
import { ExitCode, IronError, isIronError } from '../core/errors.js'

/**
 * The one error shape of `iron serve`: `{"error":{code, message, hint?, fields?, details?, exit_code,
 * request_id}}`. The CLI's HTTP client rebuilds an IronError from it with the same code, message, hint and
 * exit code, so a command fails the same way locally and against a server.
 */

/** Where a bad value was: the path's parameters, the query string, the body or a header. */
export type FieldLocation = 'params' | 'query' | 'body' | 'headers'

export interface FieldError {
  location: FieldLocation
  /** Dotted path inside the location (`rate_limits.requests_per_minute`, `limit`); empty for the whole of it. */
  path: string
  code: string
  message: string
}

export interface ErrorBody {
  error: {
    code: string
    message: string
    hint?: string
    fields?: FieldError[]
    details?: Record<string, unknown>
    exit_code: number
    request_id: string
  }
}

/** An error of the HTTP layer itself, with the status it answers (405, 413, 415, …). */
export class HttpError extends IronError {
  readonly status: number
  readonly headers: Record<string, string>
  readonly fields: FieldError[] | undefined

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      hint?: string
      exitCode?: ExitCode
      headers?: Record<string, string>
      fields?: FieldError[]
      details?: Record<string, unknown>
    } = {},
  ) {
    super(code, message, {
      hint: options.hint,
      exitCode: options.exitCode ?? ExitCode.usage,
      details: options.details,
    })
    this.status = status
    this.headers = options.headers ?? {}
    this.fields = options.fields
  }
}

/** Every zod issue of every location, at once: 422 VALIDATION_FAILED. */
export function validationError(fields: FieldError[]): HttpError {
  const first = fields[0]
  const where = (f: FieldError) => (f.path ? `${f.location}.${f.path}` : f.location)
  const message =
    fields.length === 1 && first
      ? `Invalid request: ${where(first)}: ${first.message}`
      : `Invalid request: ${fields.length} problems (${fields
          .slice(0, 3)
          .map(where)
          .join(', ')}${fields.length > 3 ? ', …' : ''})`
  return new HttpError(422, 'VALIDATION_FAILED', message, {
    hint: 'See error.fields for each problem; the OpenAPI document at /api/v1/openapi.json describes every route',
    fields,
  })
}

export function issuesToFields(location: FieldLocation, issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.map((issue) => ({
    location,
    path: issue.path.map(String).join('.'),
    code: issue.code,
    message: issue.message,
  }))
}

/** Budget refusals are 402 Payment Required, like the gateway's; other refusals are conflicts. */
const PAYMENT_CODES = /^(BUDGET_|INSUFFICIENT_BUDGET|OVER_BUDGET|LIMIT_ABOVE_GRANT)/

/**
 * The HTTP status of an error, by the exit code of SPEC §3: usage 400, not found 404, auth 401 (403 for a
 * forbidden action), refused 409 (402 for budget, 429 for rate limits), other known failures 409.
 * A throwable that is not an IronError is a bug: 500.
 */
export function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status
  if (!isIronError(error)) return 500
  if (error.code === 'RATE_LIMITED') return 429
  // The server's own key is missing or wrong: nothing the caller can fix.
  if (error.code.startsWith('MASTER_KEY_')) return 503
  // The database is down or too busy for now: another replica, or this one a moment later, may answer.
  if (
    error.code === 'STORE_UNAVAILABLE' ||
    error.code === 'STORE_BUSY' ||
    error.code === 'STORE_COMMIT_UNKNOWN'
  )
    return 503
  switch (error.exitCode) {
    case ExitCode.usage:
      return 400
    case ExitCode.notFound:
      return 404
    case ExitCode.auth:
      return error.code === 'FORBIDDEN' || error.code.endsWith('_FORBIDDEN') ? 403 : 401
    case ExitCode.refused:
      return PAYMENT_CODES.test(error.code) ? 402 : 409
    default:
      return 409
  }
}

/** The body of an error response; an unknown throwable becomes INTERNAL without its message or stack. */
export function errorBody(error: unknown, requestId: string): ErrorBody {
  if (!isIronError(error)) {
    return {
      error: {
        code: 'INTERNAL',
        message: `The server failed on this request (a bug); it is logged with request id ${requestId}`,
        hint: 'Try again; if it keeps failing, report it with the request id',
        exit_code: ExitCode.failure,
        request_id: requestId,
      },
    }
  }
  const fields = error instanceof HttpError ? error.fields : undefined
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
      ...(fields ? { fields } : {}),
      ...(error.details ? { details: error.details } : {}),
      exit_code: error.exitCode,
      request_id: requestId,
    },
  }
}
