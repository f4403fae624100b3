import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { catalogNote, priceColumns } from '../../src/cli/views.js'
import type { ModelPriceView } from '../../src/services/api.js'

export default class PricingList extends IronCommand<ModelPriceView[]> {
  static override summary = 'List model prices (USD per 1M tokens): the bundled catalog and your overrides'
  static override description =
    'Shows when the bundled catalog was last updated. Models their provider retired are left out unless --all; ' +
    'the gateway refuses them (with the replacement to use) unless you set a price of your own.'
  static override examples = [
    '<%= config.bin %> pricing list',
    '<%= config.bin %> pricing list --all',
    '<%= config.bin %> pricing list --provider anthropic',
    '<%= config.bin %> pricing list --overrides',
  ]
  static override flags = {
    provider: Flags.string({ description: 'Only this provider: openai, anthropic, openai-compatible, mock' }),
    overrides: Flags.boolean({ description: 'Only your overrides' }),
    all: Flags.boolean({ description: 'Include models their provider retired' }),
    ...storeFlags,
  }

  async run(): Promise<ModelPriceView[]> {
    const { flags } = await this.parse(PricingList)
    const all = await (await this.services(flags)).pricing.list({
      provider: flags.provider,
      include_retired: flags.all,
    })
    const prices = flags.overrides ? all.filter((p) => p.source === 'override') : all
    this.out.table(
      prices,
      priceColumns,
      flags.overrides ? 'No overrides. Set one with: iron pricing set <model>' : 'No prices match.',
    )
    if (!flags.overrides) this.out.note(catalogNote())
    return prices
  }
}
