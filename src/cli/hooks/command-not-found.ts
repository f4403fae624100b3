import type { Hook } from '@oclif/core'
import { Errors } from '@oclif/core'
import { IronError } from '../../core/errors.js'
import { colorLevel } from '../output.js'
import { renderErrorText } from '../render-error.js'

/** An unknown command is a usage error (exit 2) with a suggestion, in the same shape as every other error. */
const hook: Hook.CommandNotFound = async (options) => {
  const known = options.config.commandIDs.map((id) => id.replaceAll(':', ' '))
  // oclif joins every word into the id; show the words up to the first one that leads nowhere.
  const words = options.id.split(':')
  let depth = 1
  while (depth < words.length && known.some((k) => `${k} `.startsWith(`${words.slice(0, depth).join(' ')} `)))
    depth++
  const typed = words.slice(0, depth).join(' ')
  // Suggest from what was typed, trying the longer forms first ('confg list' → 'config list').
  let suggestion: string | undefined
  for (let n = Math.min(words.length, 3); n >= 1 && !suggestion; n--)
    suggestion = closest(words.slice(0, n).join(' '), known)
  const error = new IronError('UNKNOWN_COMMAND', `'iron ${typed}' is not an iron command`, {
    exitCode: 2,
    hint: suggestion
      ? `Did you mean: iron ${suggestion}? See all commands with: iron --help`
      : 'See all commands with: iron --help',
  })
  if ((options.argv ?? []).includes('--json') || process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ error: error.toJSON() }, null, 2)}\n`)
  } else {
    const on = colorLevel(process.env, Boolean(process.stderr.isTTY)) > 0
    const paint = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s)
    process.stderr.write(renderErrorText(error, { red: paint('31'), dim: paint('2') }))
  }
  throw new Errors.ExitError(2)
}

function closest(input: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const d = distance(input, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

export default hook
