import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { budgetRequestColumns } from '../../src/cli/views.js'
import type { BudgetRequest, BudgetRequestStatus } from '../../src/services/api.js'

export default class BudgetRequests extends IronCommand<BudgetRequest[]> {
  static override summary = 'List budget change requests, newest first'
  static override examples = [
    '<%= config.bin %> budget requests --status pending',
    '<%= config.bin %> budget requests --agent support-bot',
  ]
  static override flags = {
    status: Flags.string({
      description: 'Only requests in this state',
      options: ['pending', 'approved', 'rejected', 'cancelled'],
    }),
    agent: Flags.string({ description: 'Only this agent (name or ID)' }),
    ...storeFlags,
  }

  async run(): Promise<BudgetRequest[]> {
    const { flags } = await this.parse(BudgetRequests)
    const requests = await (await this.services(flags)).budgetRequests.list({
      status: flags.status as BudgetRequestStatus | undefined,
      agent: flags.agent,
    })
    this.out.table(
      requests,
      budgetRequestColumns,
      flags.status || flags.agent
        ? 'No budget requests match.'
        : 'No budget requests. Ask for a limit with: iron budget request <agent> --limit <usd> --reason <why>',
    )
    return requests
  }
}
