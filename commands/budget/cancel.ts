import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudgetRequest } from '../../src/cli/views.js'
import type { BudgetRequest } from '../../src/services/api.js'

export default class BudgetCancel extends IronCommand<BudgetRequest> {
  static override summary = 'Withdraw a pending budget request'
  static override description = 'Whoever asked, or an admin, can cancel a request that is still pending.'
  static override examples = ['<%= config.bin %> budget cancel breq_01jd8x4k3m5n6p7q8r9s0t1v2w']
  static override args = { id: Args.string({ description: 'Request ID (breq_…)', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<BudgetRequest> {
    const { args, flags } = await this.parse(BudgetCancel)
    const request = await (await this.services(flags)).budgetRequests.cancel(args.id)
    this.out.success(`Cancelled ${request.id} for ${request.agent_name}`)
    printBudgetRequest(this.out, request)
    return request
  }
}
