import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../../src/cli/base-command.js'
import { printPolicy } from '../../../src/cli/views.js'
import type { SafetyPolicyView } from '../../../src/services/api.js'

export default class SafetyPolicyShow extends IronCommand<SafetyPolicyView> {
  static override summary =
    'Show the effective safety policy: for each category, what happens on input and on output'
  static override examples = [
    '<%= config.bin %> safety policy show',
    '<%= config.bin %> safety policy show --agent support-bot --json',
  ]
  static override flags = {
    agent: Flags.string({ description: "This agent's policy (default over the agent's own changes)" }),
    ...storeFlags,
  }

  async run(): Promise<SafetyPolicyView> {
    const { flags } = await this.parse(SafetyPolicyShow)
    const view = await (await this.services(flags)).safety.getPolicy({ agent: flags.agent })
    printPolicy(this.out, view)
    return view
  }
}
