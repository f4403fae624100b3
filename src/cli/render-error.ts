import { IronError } from '../core/errors.js'
import { escapeControls } from '../core/terminal-text.js'

interface OclifLikeError extends Error {
  oclif?: { exit?: number }
  code?: string
}

/** Turn anything thrown into an IronError: ours as they are, oclif's parse errors as usage errors, the rest as bugs. */
export function toIronError(error: unknown, commandId?: string): IronError {
  if (error instanceof IronError) return error
  const err = (error instanceof Error ? error : new Error(String(error))) as OclifLikeError
  const help = commandId ? `iron ${commandId.replaceAll(':', ' ')} --help` : 'iron --help'
  if (
    err.oclif?.exit === 2 ||
    /^(Nonexistent flag|Unexpected argument|Missing required|Expected --|Parsing --)/.test(err.message)
  ) {
    const message = err.message
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^See more help with/.test(l))
      .join(' ')
    return new IronError('USAGE', message, { exitCode: 2, hint: `See: ${help}` })
  }
  if (err.code === 'EPIPE') return new IronError('EPIPE', 'Output closed early', { exitCode: 1 })
  return new IronError('INTERNAL', `Unexpected error: ${err.message}`, {
    hint: 'This is a bug in iron. Re-run with IRON_DEBUG=1 to see the stack, and report it',
    cause: err,
  })
}

/**
 * `Error (CODE): message` then `Try this: hint`, for stderr. Messages quote what was typed or stored
 * (names, flags, upstream answers), so their control characters are escaped before the colours are added.
 */
export function renderErrorText(
  error: IronError,
  paint: { red: (s: string) => string; dim: (s: string) => string },
): string {
  const lines = [`${paint.red(`Error (${escapeControls(error.code)}):`)} ${escapeControls(error.message)}`]
  if (error.hint) lines.push(`${paint.dim('Try this:')} ${escapeControls(error.hint)}`)
  return `${lines.join('\n')}\n`
}

export function debugStack(error: IronError): string | undefined {
  const cause = error.cause instanceof Error ? error.cause : error
  return cause.stack
}
