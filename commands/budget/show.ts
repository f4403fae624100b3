import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudget } from '../../src/cli/views.js'
import type { Budget } from '../../src/services/api.js'

export default class BudgetShow extends IronCommand<Budget> {
  static override summary = "Show an agent's budget and this period's spend"
  static override examples = ['<%= config.bin %> budget show support-bot']
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<Budget> {
    const { args, flags } = await this.parse(BudgetShow)
    const budget = await (await this.services(flags)).budgets.get(args.agent)
    printBudget(this.out, budget)
    return budget
  }
}
