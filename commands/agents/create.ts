import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { readJsonArg } from '../../src/cli/json-arg.js'
import { printAgent } from '../../src/cli/views.js'
import type { Agent } from '../../src/services/api.js'

export const agentFlags = {
  description: Flags.string({ description: 'What the agent does' }),
  project: Flags.string({ description: 'Project the agent belongs to (a grouping for reports)' }),
  owner: Flags.string({
    description: 'User who owns the agent (iron serve; admins only; default: the team)',
  }),
  provider: Flags.string({
    description: 'Provider the agent may use (repeat for several; none = any)',
    multiple: true,
  }),
  model: Flags.string({
    description: 'Model the agent may use (repeat for several; none = any priced model)',
    multiple: true,
  }),
  rpm: Flags.integer({ description: 'Requests per minute allowed' }),
  tpm: Flags.integer({ description: 'Tokens per minute allowed' }),
  'safety-policy': Flags.string({
    description:
      'Safety policy changes for this agent over the default: a JSON file, inline JSON, or default',
  }),
}

export default class AgentsCreate extends IronCommand<Agent> {
  static override summary = 'Create an agent'
  static override description =
    'An agent is the unit of control: it gets one IC token, one budget and a set of allowed providers.'
  static override examples = [
    '<%= config.bin %> agents create support-bot --provider openai --model gpt-4o-mini --rpm 60',
    '<%= config.bin %> agents create batch-job --project billing --description "nightly summaries"',
  ]
  static override args = {
    name: Args.string({ description: 'Agent name: letters, digits, . _ -', required: true }),
  }
  static override flags = { ...agentFlags, ...storeFlags }

  async run(): Promise<Agent> {
    const { args, flags } = await this.parse(AgentsCreate)
    const { agents } = await this.services(flags)
    const agent = await agents.create({
      name: args.name,
      description: flags.description,
      project: flags.project,
      owner: flags.owner,
      allowed_providers: flags.provider,
      allowed_models: flags.model,
      requests_per_minute: flags.rpm,
      tokens_per_minute: flags.tpm,
      safety_policy:
        flags['safety-policy'] === undefined
          ? undefined
          : readJsonArg(flags['safety-policy'], 'safety policy'),
    })
    this.out.success(`Created agent ${agent.name}. Next: iron tokens issue ${agent.name}`)
    const problem = await agents.servingProblem(agent)
    if (problem) this.out.warn(problem)
    printAgent(this.out, agent)
    return agent
  }
}
