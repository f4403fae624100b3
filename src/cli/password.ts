import { usageError } from '../core/errors.js'
import { isInteractive, promptSecret, readStdin } from './prompt.js'

/**
 * A new password: from stdin (`--password-stdin`, one trailing newline dropped), or typed twice at a hidden
 * prompt in a terminal; never from a flag value, which would stay in shell history and the process list.
 * Without a terminal and without --password-stdin, the command fails and says what to pass.
 */
export async function readNewPassword(options: { stdin?: boolean; who: string }): Promise<string> {
  if (options.stdin) {
    const password = (await readStdin()).replace(/\r?\n$/, '')
    if (!password) {
      throw usageError(
        'PASSWORD_EMPTY',
        'Nothing came in on stdin',
        'Pipe the password in, e.g. printf \'%s\' "$PASSWORD" | iron users create NAME --password-stdin',
      )
    }
    return password
  }
  if (!isInteractive()) {
    throw usageError(
      'PASSWORD_REQUIRED',
      `A password for ${options.who} is needed, and there is no terminal to ask for it in`,
      'Pipe it in with --password-stdin',
    )
  }
  const password = await promptSecret(`Password for ${options.who} (input hidden, at least 12 characters): `)
  const again = await promptSecret('Type it again: ')
  if (password !== again)
    throw usageError('PASSWORDS_DIFFER', 'The two passwords differ; nothing was changed')
  return password
}
