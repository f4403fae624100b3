import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { providerColumns } from '../../src/cli/views.js'
import type { Provider } from '../../src/services/api.js'

export default class ProvidersList extends IronCommand<Provider[]> {
  static override summary = 'List provider credentials (keys masked)'
  static override examples = ['<%= config.bin %> providers list', '<%= config.bin %> providers list --json']
  static override flags = { ...storeFlags }

  async run(): Promise<Provider[]> {
    const { flags } = await this.parse(ProvidersList)
    const providers = await (await this.services(flags)).providers.list()
    this.out.table(
      providers,
      providerColumns,
      'No providers yet. Add one with: iron providers add <name> --kind openai',
    )
    return providers
  }
}
