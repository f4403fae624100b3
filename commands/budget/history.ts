import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { ledgerColumns } from '../../src/cli/views.js'
import { parseTime } from '../../src/core/time.js'
import type { LedgerEntry } from '../../src/services/api.js'

export default class BudgetHistory extends IronCommand<LedgerEntry[]> {
  static override summary = "An agent's ledger: reservations, commits, releases and adjustments, newest first"
  static override examples = [
    '<%= config.bin %> budget history support-bot --limit 20',
    '<%= config.bin %> budget history support-bot --since 7d --json',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    limit: Flags.integer({ description: 'How many rows', default: 50, min: 1, max: 10_000 }),
    since: Flags.string({ description: 'Only rows since (2026-01-31, 7d, ...)' }),
    ...storeFlags,
  }

  async run(): Promise<LedgerEntry[]> {
    const { args, flags } = await this.parse(BudgetHistory)
    const since = flags.since ? parseTime(flags.since, 'since') : undefined
    const rows = await (await this.services(flags)).budgets.history(args.agent, { limit: flags.limit, since })
    this.out.table(rows, ledgerColumns, 'No ledger rows yet.')
    return rows
  }
}
