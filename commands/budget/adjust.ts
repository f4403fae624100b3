import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudget } from '../../src/cli/views.js'
import { parseMoney } from '../../src/core/money.js'
import type { Budget } from '../../src/services/api.js'

export default class BudgetAdjust extends IronCommand<Budget> {
  static override summary = "Record a manual correction of an agent's spend (a ledger row with a reason)"
  static override description =
    'A positive amount adds spend (e.g. usage billed outside iron); a negative one credits it back.'
  static override examples = [
    '<%= config.bin %> budget adjust support-bot --amount 12.40 --reason "batch API usage billed separately"',
    '<%= config.bin %> budget adjust support-bot --amount=-2 --reason "provider refund"',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    amount: Flags.string({
      description: 'USD to add (or, negative, to credit)',
      required: true,
      allowStdin: false,
    }),
    reason: Flags.string({ description: 'Why (3 to 500 characters)', required: true }),
    ...storeFlags,
  }

  async run(): Promise<Budget> {
    const { args, flags } = await this.parse(BudgetAdjust)
    const micros = parseMoney(flags.amount, 'amount', { signed: true })
    const budget = await (await this.services(flags)).budgets.adjust(args.agent, {
      amount_micros: micros,
      reason: flags.reason,
    })
    this.out.success(`Recorded the adjustment for ${budget.agent_name}`)
    printBudget(this.out, budget)
    return budget
  }
}
