import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printPrice } from '../../src/cli/views.js'
import { parsePricePerMillion } from '../../src/pricing/index.js'
import type { ModelPriceView } from '../../src/services/api.js'

const price = (text: string | undefined) => (text === undefined ? undefined : parsePricePerMillion(text))

export default class PricingSet extends IronCommand<ModelPriceView> {
  static override summary =
    "Override a model's price, or price a model iron does not know (USD per 1M tokens)"
  static override description =
    'An override wins over the bundled catalog. For a known model, fields not given keep their value.'
  static override examples = [
    '<%= config.bin %> pricing set gpt-4o --input 2.00 --output 8.00',
    '<%= config.bin %> pricing set llama3.1 --provider openai-compatible --input 0 --output 0 --max-output 8192',
  ]
  static override args = { model: Args.string({ description: 'Model id', required: true }) }
  static override flags = {
    provider: Flags.string({
      description: 'openai, anthropic, openai-compatible or mock',
      options: ['openai', 'anthropic', 'openai-compatible', 'mock'],
    }),
    kind: Flags.string({ description: 'chat or embedding', options: ['chat', 'embedding'] }),
    input: Flags.string({ description: 'Input price, USD per 1M tokens' }),
    output: Flags.string({ description: 'Output price, USD per 1M tokens' }),
    'cached-input': Flags.string({ description: 'Cached input price, USD per 1M tokens' }),
    'cache-write': Flags.string({ description: 'Cache write price, USD per 1M tokens' }),
    'max-output': Flags.integer({ description: 'Maximum output tokens', min: 1 }),
    'context-window': Flags.integer({ description: 'Context window in tokens', min: 1 }),
    ...storeFlags,
  }

  async run(): Promise<ModelPriceView> {
    const { args, flags } = await this.parse(PricingSet)
    const result = await (await this.services(flags)).pricing.set({
      model: args.model,
      provider: flags.provider,
      kind: flags.kind as 'chat' | 'embedding' | undefined,
      input_micros_per_mtok: price(flags.input),
      output_micros_per_mtok: price(flags.output),
      cached_input_micros_per_mtok: price(flags['cached-input']),
      cache_write_micros_per_mtok: price(flags['cache-write']),
      max_output_tokens: flags['max-output'],
      context_window: flags['context-window'],
    })
    this.out.success(`Price of ${result.model} set`)
    printPrice(this.out, result)
    return result
  }
}
