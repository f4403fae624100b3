import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import type { Provider } from '../../src/services/api.js'

export default class ProvidersRemove extends IronCommand<Provider> {
  static override summary = 'Remove a provider credential (refused while an agent is allowed to use it)'
  static override examples = ['<%= config.bin %> providers remove old-openai --yes']
  static override args = { provider: Args.string({ description: 'Provider name or ID', required: true }) }
  static override flags = { ...yesFlag, ...storeFlags }

  async run(): Promise<Provider> {
    const { args, flags } = await this.parse(ProvidersRemove)
    await this.confirm(`Remove provider ${args.provider}? Its encrypted key is erased.`, flags.yes)
    const provider = await (await this.services(flags)).providers.remove(args.provider)
    this.out.success(`Removed provider ${provider.name}`)
    return provider
  }
}
