import { Args, Flags } from '@oclif/core'
import { readApiKey } from '../../src/cli/api-key.js'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printProvider } from '../../src/cli/views.js'
import type { Provider } from '../../src/services/api.js'
import { apiKeyFlags } from './add.js'

export default class ProvidersUpdate extends IronCommand<Provider> {
  static override summary = "Change a provider's key, base URL or description"
  static override examples = [
    'printf %s "$NEW_KEY" | <%= config.bin %> providers update openai --api-key-stdin',
    '<%= config.bin %> providers update ollama --base-url http://10.0.0.5:11434/v1',
  ]
  static override args = { provider: Args.string({ description: 'Provider name or ID', required: true }) }
  static override flags = {
    'base-url': Flags.string({ description: 'New base URL' }),
    description: Flags.string({ description: 'New description' }),
    ...apiKeyFlags,
    ...storeFlags,
  }

  async run(): Promise<Provider> {
    const { args, flags } = await this.parse(ProvidersUpdate)
    const apiKey = await readApiKey(flags, { prompt: false })
    const provider = await (await this.services(flags)).providers.update(args.provider, {
      base_url: flags['base-url'],
      description: flags.description,
      api_key: apiKey,
    })
    this.out.success(`Updated provider ${provider.name}`)
    printProvider(this.out, provider)
    return provider
  }
}
