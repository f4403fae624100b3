import { envApiToken, TOKEN_ENV } from '../client/context.js'
import type { LoginInput } from '../client/login.js'
import { usageError } from '../core/errors.js'
import { isInteractive, promptLine, promptSecret, readStdin } from './prompt.js'

export interface LoginFlags {
  name?: string
  'password-stdin'?: boolean
  token?: boolean
}

/**
 * What `iron login` signs in with: a name and password (typed at a hidden prompt, or piped with
 * --password-stdin) or, with --token, an API token from IRON_TOKEN, stdin, or a hidden prompt. Never a
 * secret in a flag's value, which would stay in the shell's history and the process list.
 */
export async function readLoginInput(url: string, flags: LoginFlags): Promise<LoginInput> {
  if (flags.token) {
    if (flags['password-stdin'])
      throw usageError('CONFLICTING_FLAGS', 'Use either --token or --password-stdin, not both')
    const token = envApiToken(process.env) ?? (await readTokenInput())
    return { url, token }
  }
  const interactive = isInteractive()
  let name = flags.name?.trim()
  if (!name && interactive && !flags['password-stdin']) name = await promptLine('User name: ')
  if (!name) {
    throw usageError(
      'NAME_REQUIRED',
      'Which user signs in? A name is needed',
      `Pass --name NAME (with --password-stdin when not in a terminal), or sign in with an API token: ${TOKEN_ENV}=iron_at_… iron login ${url} --token`,
    )
  }
  let password: string
  if (flags['password-stdin']) {
    // One trailing newline is the pipe's, not the password's (echo, a file); spaces inside are kept.
    password = (await readStdin()).replace(/\r?\n$/, '')
    if (!password)
      throw usageError(
        'PASSWORD_EMPTY',
        'Nothing came in on stdin',
        `Pipe the password in, e.g. pass show iron | iron login ${url} --name ${name} --password-stdin`,
      )
  } else if (interactive) {
    password = await promptSecret('Password (input hidden): ')
    if (!password) throw usageError('PASSWORD_EMPTY', 'No password was typed')
  } else {
    throw usageError(
      'PASSWORD_REQUIRED',
      'Not in a terminal, so the password cannot be asked for',
      `Pipe it in with --password-stdin, e.g. pass show iron | iron login ${url} --name ${name} --password-stdin`,
    )
  }
  return { url, name, password }
}

async function readTokenInput(): Promise<string> {
  if (!process.stdin.isTTY) {
    const token = (await readStdin()).trim()
    if (token) return token
  } else if (isInteractive()) {
    const token = (await promptSecret('API token (input hidden): ')).trim()
    if (token) return token
  }
  throw usageError(
    'API_TOKEN_REQUIRED',
    'No API token: IRON_TOKEN is not set to one and nothing came in on stdin',
    `Set ${TOKEN_ENV}=iron_at_… or pipe the token in: iron login URL --token < token-file`,
  )
}
