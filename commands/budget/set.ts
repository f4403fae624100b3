import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import { printBudget } from '../../src/cli/views.js'
import { usageError } from '../../src/core/errors.js'
import { parseMoney } from '../../src/core/money.js'
import { assertPeriod } from '../../src/core/periods.js'
import type { Budget, OnInsufficient } from '../../src/services/api.js'

export default class BudgetSet extends IronCommand<Budget> {
  static override summary = "Set an agent's budget: limit, period, time zone, what happens when short, alerts"
  static override description =
    'Periods are calendar periods (UTC unless --timezone): a new one starts at zero spend, history is kept. ' +
    'With --on-insufficient clamp, a request that does not fit gets its max tokens lowered to fit instead of a 402.'
  static override examples = [
    '<%= config.bin %> budget set support-bot --limit 50 --period monthly',
    "<%= config.bin %> budget set batch-job --limit '$5.50' --period daily --timezone Europe/Paris --on-insufficient clamp",
    '<%= config.bin %> budget set support-bot --limit none',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    limit: Flags.string({ description: "Limit in USD (50, 50.25, '$50'), or none" }),
    period: Flags.string({ description: 'none, daily, weekly or monthly' }),
    timezone: Flags.string({ description: 'IANA time zone of the period (default UTC)' }),
    'on-insufficient': Flags.string({
      description: 'reject (402) or clamp (lower max tokens)',
      options: ['reject', 'clamp'],
    }),
    'alert-at': Flags.string({ description: 'Alert thresholds in percent, e.g. 50,80,95,100' }),
    ...yesFlag,
    ...storeFlags,
  }

  async run(): Promise<Budget> {
    const { args, flags } = await this.parse(BudgetSet)
    const limit =
      flags.limit === undefined ? undefined : flags.limit === 'none' ? null : parseMoney(flags.limit, 'limit')
    const thresholds = flags['alert-at']?.split(',').map((t) => Number(t.trim().replace(/%$/, '')))
    if (
      [limit, flags.period, flags.timezone, flags['on-insufficient'], thresholds].every(
        (v) => v === undefined,
      )
    ) {
      throw usageError(
        'NOTHING_TO_SET',
        'Nothing to change',
        'Give at least one of --limit, --period, --timezone, --on-insufficient, --alert-at',
      )
    }
    const budget = await (await this.services(flags)).budgets.set(args.agent, {
      limit_micros: limit,
      period: flags.period === undefined ? undefined : assertPeriod(flags.period),
      timezone: flags.timezone,
      on_insufficient: flags['on-insufficient'] as OnInsufficient | undefined,
      alert_thresholds: thresholds,
      allow_below_spend: flags.yes,
    })
    this.out.success(`Budget of ${budget.agent_name} set`)
    printBudget(this.out, budget)
    return budget
  }
}
