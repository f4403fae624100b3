import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { readJsonArg } from '../../src/cli/json-arg.js'
import { printAgent } from '../../src/cli/views.js'
import type { Agent } from '../../src/services/api.js'
import { agentFlags } from './create.js'

export default class AgentsUpdate extends IronCommand<Agent> {
  static override summary = 'Change an agent: name, limits, allowed providers and models, status'
  static override description =
    '--provider and --model replace the whole list; --no-provider / --no-model allow any.'
  static override examples = [
    '<%= config.bin %> agents update support-bot --status suspended',
    '<%= config.bin %> agents update support-bot --provider openai --provider anthropic --tpm 50000',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = {
    name: Flags.string({ description: 'New name' }),
    status: Flags.string({
      description: 'active, or suspended (refused by the gateway with 403)',
      options: ['active', 'suspended'],
    }),
    ...agentFlags,
    'no-provider': Flags.boolean({ description: 'Allow any provider', exclusive: ['provider'] }),
    'no-model': Flags.boolean({ description: 'Allow any priced model', exclusive: ['model'] }),
    'no-owner': Flags.boolean({ description: "Make it the team's agent (no owner)", exclusive: ['owner'] }),
    ...storeFlags,
  }

  async run(): Promise<Agent> {
    const { args, flags } = await this.parse(AgentsUpdate)
    const { agents } = await this.services(flags)
    const agent = await agents.update(args.agent, {
      name: flags.name,
      status: flags.status as 'active' | 'suspended' | undefined,
      description: flags.description,
      project: flags.project,
      owner: flags['no-owner'] ? null : flags.owner,
      allowed_providers: flags['no-provider'] ? [] : flags.provider,
      allowed_models: flags['no-model'] ? [] : flags.model,
      requests_per_minute: flags.rpm,
      tokens_per_minute: flags.tpm,
      safety_policy:
        flags['safety-policy'] === undefined
          ? undefined
          : readJsonArg(flags['safety-policy'], 'safety policy'),
    })
    this.out.success(`Updated agent ${agent.name}`)
    // As agents create and doctor say: an active agent whose models no provider it may use serves.
    const problem = agent.status === 'active' ? await agents.servingProblem(agent) : undefined
    if (problem) this.out.warn(problem)
    printAgent(this.out, agent)
    return agent
  }
}
