import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudget } from '../../src/cli/views.js'
import type { Budget } from '../../src/services/api.js'

export default class BudgetShow extends IronCommand<Budget> {
  static override summary = "Show an agent's budget: spent, in flight and available this period"
  static override description =
    'In flight is the worst case of the requests running now; available = limit − spent − in flight. ' +
    '--verbose adds how the ledger holds it: open reservations, and what gateways hold in leases ' +
    '(borrowed to admit requests, not spent; returned when idle).'
  static override examples = [
    '<%= config.bin %> budget show support-bot',
    '<%= config.bin %> budget show support-bot --verbose',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    verbose: Flags.boolean({ description: 'Also show open reservations and what gateways hold in leases' }),
    ...storeFlags,
  }

  async run(): Promise<Budget> {
    const { args, flags } = await this.parse(BudgetShow)
    const budget = await (await this.services(flags)).budgets.get(args.agent)
    printBudget(this.out, budget, { verbose: flags.verbose })
    return budget
  }
}
