import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { budgetColumns } from '../../src/cli/views.js'
import type { Budget } from '../../src/services/api.js'

export default class BudgetList extends IronCommand<Budget[]> {
  static override summary = "List every agent's budget: spent, in flight and available this period"
  static override examples = ['<%= config.bin %> budget list']
  static override flags = { ...storeFlags }

  async run(): Promise<Budget[]> {
    const { flags } = await this.parse(BudgetList)
    const budgets = await (await this.services(flags)).budgets.list()
    this.out.table(budgets, budgetColumns, 'No agents yet. Create one with: iron agents create <name>')
    return budgets
  }
}
