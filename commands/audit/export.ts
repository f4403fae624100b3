import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { Flags } from '@oclif/core'
import { auditFilterFlags, auditQuery } from '../../src/cli/audit-flags.js'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { ProgressBar } from '../../src/cli/progress.js'
import { usageError } from '../../src/core/errors.js'
import { auditCsvHeader, auditCsvLine } from '../../src/services/audit-format.js'

interface ExportResult {
  format: 'jsonl' | 'csv'
  output: string
  events: number
  bytes: number
  seconds: number
}

export default class AuditExport extends IronCommand<ExportResult> {
  static override summary =
    'Export audit events as JSON Lines or CSV, streamed (bounded memory), oldest first'
  static override description =
    'Progress goes to stderr for large exports. The CSV has one column per field, data as JSON.'
  static override examples = [
    '<%= config.bin %> audit export --format jsonl --output audit-2026.jsonl --since 2026-01-01',
    '<%= config.bin %> audit export --format csv --agent support-bot > support-bot.csv',
  ]
  static override flags = {
    format: Flags.string({ description: 'jsonl or csv', options: ['jsonl', 'csv'], default: 'jsonl' }),
    output: Flags.string({ char: 'o', description: 'File to write (default: stdout)' }),
    ...auditFilterFlags,
    ...storeFlags,
  }

  async run(): Promise<ExportResult> {
    const { flags } = await this.parse(AuditExport)
    if (this.jsonEnabled() && !flags.output) {
      throw usageError(
        'OUTPUT_REQUIRED',
        'With --json the summary goes to stdout, so the export needs --output FILE',
      )
    }
    const cp = await this.services(flags)
    const query = auditQuery(flags)
    const total = await cp.audit.count(query)
    const sink = flags.output ? createWriteStream(flags.output, { mode: 0o600 }) : process.stdout
    const progress =
      total >= 10_000 && process.stderr.isTTY ? new ProgressBar(process.stderr, total, 'events') : undefined
    const started = performance.now()
    let events = 0
    let bytes = 0
    const write = async (text: string) => {
      bytes += Buffer.byteLength(text)
      if (!sink.write(text)) await once(sink, 'drain')
    }
    if (flags.format === 'csv') await write(auditCsvHeader())
    // An export holds the chained fields only: the agent's name is for people's views.
    for await (const { agent_name: _, ...event } of cp.audit.stream(query)) {
      await write(flags.format === 'csv' ? auditCsvLine(event) : `${JSON.stringify(event)}\n`)
      events++
      if (progress && events % 5_000 === 0) progress.update(events)
    }
    progress?.done(events)
    if (sink !== process.stdout) {
      sink.end()
      await once(sink, 'finish')
    }
    const seconds = Math.round((performance.now() - started) / 10) / 100
    const where = flags.output ?? 'stdout'
    this.out.note(
      `Exported ${events} events (${(bytes / 1_048_576).toFixed(1)} MB) to ${where} in ${seconds}s`,
    )
    return { format: flags.format as 'jsonl' | 'csv', output: where, events, bytes, seconds }
  }
}
