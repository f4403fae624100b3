import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printBudgetRequest } from '../../src/cli/views.js'
import { parseMoney } from '../../src/core/money.js'
import type { BudgetRequest } from '../../src/services/api.js'

export default class BudgetRequestCommand extends IronCommand<BudgetRequest> {
  static override summary = "Ask an admin for a different limit on an agent's budget"
  static override description =
    'The request stays pending until an admin approves it (the limit is set at once) or rejects it, or you ' +
    'cancel it. An agent has at most one pending request.'
  static override examples = [
    '<%= config.bin %> budget request support-bot --limit 80 --reason "launch week traffic"',
    '<%= config.bin %> budget request batch-job --limit none --reason "nightly re-index, bounded by its rate limit"',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    limit: Flags.string({
      description: "The limit asked for in USD (80, '$80.50'), or none",
      required: true,
    }),
    reason: Flags.string({ description: 'Why (1 to 500 characters)', required: true }),
    ...storeFlags,
  }

  async run(): Promise<BudgetRequest> {
    const { args, flags } = await this.parse(BudgetRequestCommand)
    const limit = flags.limit.trim().toLowerCase() === 'none' ? null : parseMoney(flags.limit, 'limit')
    const request = await (await this.services(flags)).budgetRequests.create(args.agent, {
      limit_micros: limit,
      reason: flags.reason,
    })
    this.out.success(
      `Asked for a new limit for ${request.agent_name}; an admin decides with: iron budget approve ${request.id}`,
    )
    printBudgetRequest(this.out, request)
    return request
  }
}
