import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudgetRequest } from '../../src/cli/views.js'
import type { BudgetRequest } from '../../src/services/api.js'

export default class BudgetReject extends IronCommand<BudgetRequest> {
  static override summary = "Reject a pending budget request; the agent's budget stays as it is"
  static override description =
    'Admins only. A request is decided once; the requester can ask again afterwards.'
  static override examples = [
    '<%= config.bin %> budget reject breq_01jd8x4k3m5n6p7q8r9s0t1v2w --note "use the batch API instead"',
  ]
  static override args = { id: Args.string({ description: 'Request ID (breq_…)', required: true }) }
  static override flags = {
    note: Flags.string({ description: 'A note kept with the decision (at most 500 characters)' }),
    ...storeFlags,
  }

  async run(): Promise<BudgetRequest> {
    const { args, flags } = await this.parse(BudgetReject)
    const request = await (await this.services(flags)).budgetRequests.reject(args.id, { note: flags.note })
    this.out.success(`Rejected ${request.id} for ${request.agent_name}`)
    printBudgetRequest(this.out, request)
    return request
  }
}
