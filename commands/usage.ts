import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../src/cli/base-command.js'
import { printUsage } from '../src/cli/views.js'
import { parseTime } from '../src/core/time.js'
import type { UsageGroup, UsageReport } from '../src/services/api.js'

export default class Usage extends IronCommand<UsageReport> {
  static override summary =
    'Usage and cost totals from the ledger, grouped by agent, model, provider, project or day'
  static override description =
    'Agents with no traffic show zero. Requests to models without a price are counted, and their cost shows as ' +
    'unknown (or as a lower bound), never as a false zero.'
  static override examples = [
    '<%= config.bin %> usage',
    '<%= config.bin %> usage --by model --since 7d',
    '<%= config.bin %> usage --by day --since 2026-11-01 --until 2026-12-01 --json',
  ]
  static override flags = {
    by: Flags.string({
      description: 'Group by',
      options: ['agent', 'model', 'provider', 'project', 'day'],
      default: 'agent',
    }),
    since: Flags.string({ description: 'From (2026-11-01, 2026-11-01T09:00:00Z, 7d)' }),
    until: Flags.string({ description: 'Until, exclusive (same forms)' }),
    agent: Flags.string({ description: 'Only this agent (name or ID)' }),
    ...storeFlags,
  }

  async run(): Promise<UsageReport> {
    const { flags } = await this.parse(Usage)
    const report = await (await this.services(flags)).usage.report({
      by: flags.by as UsageGroup,
      since: flags.since ? parseTime(flags.since, 'since') : undefined,
      until: flags.until ? parseTime(flags.until, 'until') : undefined,
      agent: flags.agent,
    })
    printUsage(this.out, report)
    return report
  }
}
