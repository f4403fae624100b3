import { Flags } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import { parseTime } from '../../src/core/time.js'
import type { AuditPruneResult } from '../../src/services/api.js'

export default class AuditPrune extends IronCommand<AuditPruneResult> {
  static override summary =
    'Remove audit events older than a date, leaving a signed checkpoint so verify still proves the rest'
  static override description =
    'Refused when the chain does not verify. Export first if you must keep the events.'
  static override examples = [
    '<%= config.bin %> audit export --until 2026-01-01 --output 2025.jsonl && <%= config.bin %> audit prune --before 2026-01-01 --yes',
  ]
  static override flags = {
    before: Flags.string({ description: 'Remove events before this date or time', required: true }),
    ...yesFlag,
    ...storeFlags,
  }

  async run(): Promise<AuditPruneResult> {
    const { flags } = await this.parse(AuditPrune)
    const before = parseTime(flags.before, 'before')
    await this.confirm(
      `Remove every audit event before ${new Date(before).toISOString()}? This cannot be undone.`,
      flags.yes,
    )
    const result = await (await this.services(flags)).audit.prune(before)
    this.out.success(
      `Pruned ${result.pruned} events (through event ${result.through_seq}); checkpoint head ${result.head_hash}`,
    )
    return result
  }
}
