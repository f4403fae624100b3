import { IronError } from '../core/errors.js'
import { escapeControls } from '../core/terminal-text.js'

interface OclifLikeError extends Error {
  oclif?: { exit?: number }
  code?: string
  /** oclif's RequiredArgsError: the arguments that were not given. */
  args?: Array<{ name: string; description?: string }>
  /** oclif's parse errors: what was defined and what was typed. */
  parse?: {
    input?: { flags?: Record<string, { multiple?: boolean }> }
    output?: { raw?: Array<{ type: string; flag?: string; input?: string }> }
  }
}

/** oclif wraps what a flag's own parser throws in `Parsing --name \n\t…\nSee more help with --help`. */
const FLAG_PARSE_WRAPPER = /^Parsing --\S+ \n\t([\s\S]*)\nSee more help with --help$/

/** Turn anything thrown into an IronError: ours as they are, oclif's parse errors as usage errors, the rest as bugs. */
export function toIronError(error: unknown, commandId?: string): IronError {
  if (error instanceof IronError) {
    const wrapped = FLAG_PARSE_WRAPPER.exec(error.message)
    if (!wrapped) return error
    return new IronError(error.code, wrapped[1]!, {
      hint: error.hint,
      exitCode: error.exitCode,
      details: error.details,
    })
  }
  const err = (error instanceof Error ? error : new Error(String(error))) as OclifLikeError
  const command = commandId ? `iron ${commandId.replaceAll(':', ' ')}` : 'iron'
  const help = `${command} --help`
  if (err.args?.length && /^Missing \d+ required arg/.test(err.message)) return missingArgs(err, command)
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
 * A missing argument, said in one line. oclif appends a paragraph about multi-value flags to every such
 * error; it matters only when such a flag was typed before the argument (it then took the argument as one
 * of its values), and then the hint says so in a sentence.
 */
function missingArgs(err: OclifLikeError, command: string): IronError {
  const args = err.args!
  const names = args.map((a) => a.name.toUpperCase())
  const described = args.map((a) =>
    a.description ? `${a.name.toUpperCase()} (${a.description})` : a.name.toUpperCase(),
  )
  const message = `Missing the required argument${args.length === 1 ? '' : 's'} ${described.join(', ')}`
  const defined = err.parse?.input?.flags ?? {}
  const greedy = [
    ...new Set(
      (err.parse?.output?.raw ?? [])
        .filter((r) => r.type === 'flag' && r.flag !== undefined && defined[r.flag]?.multiple)
        .map((r) => `--${r.flag}`),
    ),
  ]
  const usage = `${command} ${names.join(' ')} [flags]`
  const hint = greedy.length
    ? `${greedy.join(', ')} take${greedy.length === 1 ? 's' : ''} several values, so put ${names.join(' ')} before ${greedy.length === 1 ? 'it' : 'them'}: ${usage}`
    : `${usage} (see: ${command} --help)`
  return new IronError('USAGE', message, { exitCode: 2, hint })
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
