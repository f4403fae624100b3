import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { priceColumns } from '../../src/cli/views.js'
import type { ModelPriceView } from '../../src/services/api.js'

export default class PricingList extends IronCommand<ModelPriceView[]> {
  static override summary = 'List model prices (USD per 1M tokens): the bundled catalog and your overrides'
  static override examples = [
    '<%= config.bin %> pricing list',
    '<%= config.bin %> pricing list --provider anthropic',
    '<%= config.bin %> pricing list --overrides',
  ]
  static override flags = {
    provider: Flags.string({ description: 'Only this provider: openai, anthropic, openai-compatible, mock' }),
    overrides: Flags.boolean({ description: 'Only your overrides' }),
    ...storeFlags,
  }

  async run(): Promise<ModelPriceView[]> {
    const { flags } = await this.parse(PricingList)
    const all = await (await this.services(flags)).pricing.list({ provider: flags.provider })
    const prices = flags.overrides ? all.filter((p) => p.source === 'override') : all
    this.out.table(
      prices,
      priceColumns,
      flags.overrides ? 'No overrides. Set one with: iron pricing set <model>' : 'No prices match.',
    )
    return prices
  }
}
