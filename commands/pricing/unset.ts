import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import type { ModelPriceView } from '../../src/services/api.js'

interface UnsetResult {
  model: string
  removed: boolean
  now: ModelPriceView | null
}

export default class PricingUnset extends IronCommand<UnsetResult> {
  static override summary = 'Remove a price override (the bundled price, if any, applies again)'
  static override examples = ['<%= config.bin %> pricing unset gpt-4o']
  static override args = { model: Args.string({ description: 'Model id', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<UnsetResult> {
    const { args, flags } = await this.parse(PricingUnset)
    const result = await (await this.services(flags)).pricing.unset(args.model)
    this.out.success(
      result.now
        ? `Removed the override; ${result.model} uses the bundled price again`
        : `Removed the override; ${result.model} has no price now`,
    )
    return result
  }
}
