import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printProvider } from '../../src/cli/views.js'
import type { Provider } from '../../src/services/api.js'

export default class ProvidersShow extends IronCommand<Provider> {
  static override summary = 'Show a provider credential (key masked)'
  static override examples = ['<%= config.bin %> providers show openai']
  static override args = { provider: Args.string({ description: 'Provider name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<Provider> {
    const { args, flags } = await this.parse(ProvidersShow)
    const provider = await (await this.services(flags)).providers.get(args.provider)
    printProvider(this.out, provider)
    return provider
  }
}
