import { readFileSync } from 'node:fs'
import { usageError } from '../core/errors.js'

/**
 * A JSON value given on the command line: inline (`{"input": {...}}`) or as a file path. `default` (or
 * `none`) means null: back to the default.
 */
export function readJsonArg(value: string, what: string): unknown {
  const text = value.trim()
  if (text === 'default' || text === 'none') return null
  let source = text
  if (!text.startsWith('{')) {
    try {
      source = readFileSync(text, 'utf8')
    } catch (error) {
      throw usageError(
        'FILE_UNREADABLE',
        `Cannot read ${what} file '${text}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        'Give a path to a JSON file, inline JSON, or default',
      )
    }
  }
  try {
    return JSON.parse(source) as unknown
  } catch (error) {
    throw usageError(
      'INVALID_JSON',
      `The ${what} is not valid JSON: ${(error as Error).message}`,
      'Check the file, e.g. with: jq . policy.json',
    )
  }
}
