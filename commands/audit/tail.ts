import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { auditFilterFlags, auditQuery } from '../../src/cli/audit-flags.js'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { durationFlag } from '../../src/cli/duration-flag.js'
import { auditLine } from '../../src/cli/views.js'

export default class AuditTail extends IronCommand<void> {
  static override summary =
    'Follow new audit events as they are written (also by a gateway in another process), until Ctrl-C'
  static override description = 'Starts with the last --lines events. With --json, one JSON object per line.'
  static override examples = [
    '<%= config.bin %> audit tail',
    '<%= config.bin %> audit tail --agent support-bot --action gateway --json',
  ]
  static override flags = {
    ...auditFilterFlags,
    lines: Flags.integer({ description: 'Events to show first', default: 10, min: 0, max: 1000 }),
    interval: durationFlag({
      description: 'How often to look for new events (250ms, 2s; a number alone is seconds)',
      default: '250ms',
      min: 50,
      max: 60_000,
    }),
    ...storeFlags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(AuditTail)
    // Ctrl-C is taken from the start, so a signal sent as soon as output appears still ends the command cleanly.
    let stop = false
    process.once('SIGINT', () => {
      stop = true
    })
    const cp = await this.services(flags)
    const query = auditQuery(flags)
    const recent = flags.lines ? (await cp.audit.list({ ...query, limit: flags.lines })).events.reverse() : []
    let last = recent.at(-1)?.seq ?? (await cp.audit.list({ limit: 1 })).events[0]?.seq ?? 0
    const show = (event: (typeof recent)[number]) => {
      if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(event)}\n`)
      else this.out.line(auditLine(this.out, event))
      last = event.seq
    }
    recent.forEach(show)
    if (!this.jsonEnabled() && process.stderr.isTTY)
      this.out.note(this.out.errColor.dim('Following; Ctrl-C to stop.'))
    while (!stop) {
      for await (const event of cp.audit.stream({ ...query, after_seq: last })) show(event)
      await sleep(flags.interval)
    }
    this.setExitCode(130)
  }
}
