/**
 * Typed errors. Every error a user can meet is an IronError: a stable code, a message that says what is
 * wrong, a hint that says what to do, and the exit code of SPEC §3. Anything else that escapes is a bug.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  refused: 5,
  interrupted: 130,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export interface IronErrorOptions {
  hint?: string
  exitCode?: ExitCode
  /** Extra machine-readable details (field errors, remaining budget, ...), shown in --json output. */
  details?: Record<string, unknown>
  cause?: unknown
}

export class IronError extends Error {
  readonly code: string
  readonly hint: string | undefined
  readonly exitCode: ExitCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: string, message: string, options: IronErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'IronError'
    this.code = code
    this.hint = options.hint
    this.exitCode = options.exitCode ?? ExitCode.failure
    this.details = options.details
  }

  toJSON(): {
    code: string
    message: string
    hint?: string
    exit_code: number
    details?: Record<string, unknown>
  } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      exit_code: this.exitCode,
      ...(this.details ? { details: this.details } : {}),
    }
  }
}

export const usageError = (code: string, message: string, hint?: string, details?: Record<string, unknown>) =>
  new IronError(code, message, { hint, exitCode: ExitCode.usage, details })

export const notFound = (code: string, message: string, hint?: string) =>
  new IronError(code, message, { hint, exitCode: ExitCode.notFound })

export const authError = (code: string, message: string, hint?: string) =>
  new IronError(code, message, { hint, exitCode: ExitCode.auth })

export const refused = (code: string, message: string, hint?: string, details?: Record<string, unknown>) =>
  new IronError(code, message, { hint, exitCode: ExitCode.refused, details })

export const isIronError = (value: unknown): value is IronError => value instanceof IronError
