import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudgetCheck } from '../../src/cli/views.js'
import type { BudgetCheck } from '../../src/services/api.js'

export default class BudgetCheckCommand extends IronCommand<BudgetCheck> {
  static override summary = 'Check an agent against its budget: exits 5 at or over the limit (for scripts)'
  static override description =
    'Prints spent, in flight, available, the burn rate and a projection to the end of the period. Over (exit 5) ' +
    'means nothing is available (spent and in flight reach the limit) or spend alone passed it. --verify ' +
    'recomputes the balances from the ledger rows and exits 1 on any mismatch.'
  static override examples = [
    '<%= config.bin %> budget check support-bot || echo "out of budget"',
    '<%= config.bin %> budget check support-bot --verify',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    verify: Flags.boolean({ description: 'Recompute balances from the ledger rows' }),
    ...storeFlags,
  }

  async run(): Promise<BudgetCheck> {
    const { args, flags } = await this.parse(BudgetCheckCommand)
    const check = await (await this.services(flags)).budgets.check(args.agent, { verify: flags.verify })
    printBudgetCheck(this.out, check)
    if (check.verify && !check.verify.ok) this.setExitCode(1)
    else if (check.over) this.setExitCode(5)
    return check
  }
}
