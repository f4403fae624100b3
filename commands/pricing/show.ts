import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printPrice } from '../../src/cli/views.js'
import type { ModelPriceView } from '../../src/services/api.js'

export default class PricingShow extends IronCommand<ModelPriceView> {
  static override summary = "Show a model's price (aliases and dated snapshots resolve to their model)"
  static override examples = [
    '<%= config.bin %> pricing show gpt-4o',
    '<%= config.bin %> pricing show claude-haiku-4-5-20251001',
  ]
  static override args = { model: Args.string({ description: 'Model id or alias', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<ModelPriceView> {
    const { args, flags } = await this.parse(PricingShow)
    const price = await (await this.services(flags)).pricing.get(args.model)
    printPrice(this.out, price)
    return price
  }
}
