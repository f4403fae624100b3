import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printAuditEvent } from '../../src/cli/views.js'
import type { AuditEvent } from '../../src/services/api.js'

export default class AuditShow extends IronCommand<AuditEvent> {
  static override summary = 'Show one audit event with its data and hashes'
  static override examples = [
    '<%= config.bin %> audit show 19',
    '<%= config.bin %> audit show aud_01jd8x4k3m5n6p7q8r9s0t1v2w',
  ]
  static override args = {
    event: Args.string({
      description: 'Sequence number (first column of audit list) or event ID (aud_…)',
      required: true,
    }),
  }
  static override flags = { ...storeFlags }

  async run(): Promise<AuditEvent> {
    const { args, flags } = await this.parse(AuditShow)
    const event = await (await this.services(flags)).audit.get(args.event)
    printAuditEvent(this.out, event)
    return event
  }
}
