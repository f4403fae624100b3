import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { agentColumnsFor } from '../../src/cli/views.js'
import type { Agent } from '../../src/services/api.js'

export default class AgentsList extends IronCommand<Agent[]> {
  static override summary = 'List agents'
  static override examples = [
    '<%= config.bin %> agents list',
    '<%= config.bin %> agents list --project billing --json',
  ]
  static override flags = {
    all: Flags.boolean({ description: 'Include deleted agents' }),
    project: Flags.string({ description: 'Only agents of this project' }),
    ...storeFlags,
  }

  async run(): Promise<Agent[]> {
    const { flags } = await this.parse(AgentsList)
    const agents = await (await this.services(flags)).agents.list({
      include_deleted: flags.all,
      project: flags.project,
    })
    this.out.table(
      agents,
      agentColumnsFor(agents),
      'No agents yet. Create one with: iron agents create <name>',
    )
    return agents
  }
}
