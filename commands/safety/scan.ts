import { readFileSync } from 'node:fs'
import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { readStdin } from '../../src/cli/prompt.js'
import { findingColumns } from '../../src/cli/views.js'
import { usageError } from '../../src/core/errors.js'
import type { SafetyScanResult } from '../../src/services/api.js'

export default class SafetyScan extends IronCommand<SafetyScanResult> {
  static override summary = 'Run the firewall on a text offline: what it finds and what the policy would do'
  static override description =
    'Reads a file, or stdin with - (or when piped). Findings show category, place and the SHA-256 of the match, ' +
    'never the match itself. Exits 5 when the policy would block the text.'
  static override examples = [
    '<%= config.bin %> safety scan prompt.txt',
    'cat reply.txt | <%= config.bin %> safety scan - --direction output --agent support-bot',
    '<%= config.bin %> safety scan transcript.txt --show-redacted',
  ]
  static override args = { file: Args.string({ description: 'File to scan, or - for stdin' }) }
  static override flags = {
    direction: Flags.string({
      description: 'Check as a prompt (input) or a response (output)',
      options: ['input', 'output'],
      default: 'input',
    }),
    agent: Flags.string({ description: "Use this agent's policy instead of the default" }),
    'show-redacted': Flags.boolean({ description: 'Print the text as it would be forwarded' }),
    ...storeFlags,
  }

  async run(): Promise<SafetyScanResult> {
    const { args, flags } = await this.parse(SafetyScan)
    const file = args.file ?? (process.stdin.isTTY ? undefined : '-')
    if (!file)
      throw usageError(
        'NO_INPUT',
        'Nothing to scan',
        'Give a file, or pipe text in: cat prompt.txt | iron safety scan -',
      )
    let text: string
    try {
      text = file === '-' ? await readStdin() : readFileSync(file, 'utf8')
    } catch (error) {
      throw usageError(
        'FILE_UNREADABLE',
        `Cannot read '${file}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
    const result = await (await this.services(flags)).safety.scan({
      text,
      direction: flags.direction as 'input' | 'output',
      agent: flags.agent,
    })
    this.out.table(result.findings, findingColumns, 'No findings.')
    const verdict = result.error
      ? `the check failed (${result.error.message}): blocked`
      : result.blocked.length
        ? `would block: ${result.blocked.join(', ')}`
        : result.redacted.length
          ? `would redact: ${result.redacted.join(', ')}`
          : result.logged.length
            ? `would forward and log: ${result.logged.join(', ')}`
            : 'would forward unchanged'
    this.out.note(
      `${result.bytes} bytes, ${result.findings.length} finding(s); ${flags.direction} policy${result.agent ? ` of ${result.agent}` : ''} ${verdict}`,
    )
    if (flags['show-redacted'] && result.redacted_text !== null) this.out.line(result.redacted_text)
    if (result.blocked.length || result.error) this.setExitCode(5)
    return result
  }
}
