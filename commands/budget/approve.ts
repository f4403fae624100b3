import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudgetRequest } from '../../src/cli/views.js'
import { formatMoney } from '../../src/core/money.js'
import type { BudgetRequest } from '../../src/services/api.js'

export default class BudgetApprove extends IronCommand<BudgetRequest> {
  static override summary =
    "Approve a pending budget request: the agent's limit is set to what was asked, at once"
  static override description =
    "Admins only. The limit is set as iron budget set sets it (also below what was spent this period, as the request asked) and becomes what the agent's owner may set; the request, the budget and the audit trail change in one transaction. A request is decided once."
  static override examples = [
    '<%= config.bin %> budget approve breq_01jd8x4k3m5n6p7q8r9s0t1v2w',
    '<%= config.bin %> budget approve breq_01jd8x4k3m5n6p7q8r9s0t1v2w --note "for the launch week only"',
  ]
  static override args = { id: Args.string({ description: 'Request ID (breq_…)', required: true }) }
  static override flags = {
    note: Flags.string({ description: 'A note kept with the decision (at most 500 characters)' }),
    ...storeFlags,
  }

  async run(): Promise<BudgetRequest> {
    const { args, flags } = await this.parse(BudgetApprove)
    const request = await (await this.services(flags)).budgetRequests.approve(args.id, { note: flags.note })
    this.out.success(
      `Approved ${request.id} for ${request.agent_name} (limit now ${request.limit_micros === null ? 'none' : formatMoney(request.limit_micros)})`,
    )
    printBudgetRequest(this.out, request)
    return request
  }
}
