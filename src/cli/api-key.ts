import { usageError } from '../core/errors.js'
import { isInteractive, promptSecret, readStdin } from './prompt.js'

export interface ApiKeyFlags {
  'api-key-stdin'?: boolean
  'api-key-env'?: string
}

/**
 * A provider key from stdin, from a named environment variable, or typed at a hidden prompt; never from
 * a flag value, which would stay in shell history. Undefined when none was given and none is needed.
 */
export async function readApiKey(
  flags: ApiKeyFlags,
  options: { prompt: boolean },
): Promise<string | undefined> {
  if (flags['api-key-stdin'] && flags['api-key-env']) {
    throw usageError('CONFLICTING_FLAGS', 'Use either --api-key-stdin or --api-key-env, not both')
  }
  if (flags['api-key-stdin']) {
    const key = (await readStdin()).trim()
    if (!key)
      throw usageError(
        'API_KEY_EMPTY',
        'Nothing came in on stdin',
        'Pipe the key in, e.g. pass show openai | iron providers add openai --kind openai --api-key-stdin',
      )
    return key
  }
  if (flags['api-key-env']) {
    const name = flags['api-key-env']
    const key = process.env[name]?.trim()
    if (!key)
      throw usageError(
        'API_KEY_ENV_UNSET',
        `The environment variable ${name} is not set or is empty`,
        `Export it first, or use --api-key-stdin`,
      )
    return key
  }
  if (options.prompt && isInteractive()) {
    const key = (await promptSecret('API key (input hidden): ')).trim()
    return key || undefined
  }
  return undefined
}
