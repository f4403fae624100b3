import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import type { AgentDeleteResult } from '../../src/services/api.js'

export default class AgentsDelete extends IronCommand<AgentDeleteResult> {
  static override summary = 'Delete an agent (its usage and audit history stay readable)'
  static override description =
    "Revokes the agent's live IC token at once. The name becomes free; the agent stays visible with `iron agents list --all`."
  static override examples = ['<%= config.bin %> agents delete old-bot --yes']
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = { ...yesFlag, ...storeFlags }

  async run(): Promise<AgentDeleteResult> {
    const { args, flags } = await this.parse(AgentsDelete)
    await this.confirm(
      `Delete agent ${args.agent}? Its live IC token, if any, stops working at once.`,
      flags.yes,
    )
    const result = await (await this.services(flags)).agents.delete(args.agent, { force: true })
    this.out.success(
      `Deleted agent ${result.agent.name}${result.revoked_token ? ' and revoked its IC token' : ''}`,
    )
    return result
  }
}
