import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printAgent } from '../../src/cli/views.js'
import type { Agent } from '../../src/services/api.js'

export default class AgentsShow extends IronCommand<Agent> {
  static override summary = 'Show an agent'
  static override examples = [
    '<%= config.bin %> agents show support-bot',
    '<%= config.bin %> agents show agent_01jd8x4k3m5n6p7q8r9s0t1v2w --json',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<Agent> {
    const { args, flags } = await this.parse(AgentsShow)
    const agent = await (await this.services(flags)).agents.get(args.agent)
    printAgent(this.out, agent)
    return agent
  }
}
