import { createInterface } from 'node:readline/promises'
import { usageError } from '../core/errors.js'
import { escapeControls } from '../core/terminal-text.js'

/** Prompts only when a person is there: stdin and stdout are terminals. Scripts must pass the flag instead. */
export const isInteractive = (): boolean => Boolean(process.stdin.isTTY && process.stdout.isTTY)

/**
 * Ask before something destructive. `--yes` skips the question; without a terminal the command fails
 * and says to pass --yes, rather than waiting on input that will never come.
 */
export async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return
  if (!isInteractive()) {
    throw usageError(
      'CONFIRMATION_REQUIRED',
      `${question} This needs confirmation.`,
      'Re-run with --yes to confirm',
    )
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = (await rl.question(`${escapeControls(question)} [y/N] `)).trim().toLowerCase()
    if (answer !== 'y' && answer !== 'yes') throw usageError('CANCELLED', 'Cancelled; nothing was changed')
  } finally {
    rl.close()
  }
}

/** Ask a person for a line of text (call only when isInteractive()). */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return (await rl.question(question)).trim()
  } finally {
    rl.close()
  }
}

/** Read a secret from the terminal without echoing it. */
export async function promptSecret(question: string): Promise<string> {
  const { stdin, stderr } = process
  // Echo goes off before the question shows, so nothing typed as soon as it appears is echoed.
  stdin.setRawMode?.(true)
  stderr.write(question)
  stdin.resume()
  stdin.setEncoding('utf8')
  return new Promise((resolve, reject) => {
    let value = ''
    const done = (error?: Error) => {
      stdin.setRawMode?.(false)
      stdin.pause()
      stdin.off('data', onData)
      stderr.write('\n')
      if (error) reject(error)
      else resolve(value)
    }
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done()
        if (ch === '\u0003') return done(usageError('CANCELLED', 'Cancelled; nothing was changed'))
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    stdin.on('data', onData)
  })
}

/** Read all of stdin (for --api-key-stdin and `-` file arguments). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
