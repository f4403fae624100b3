import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printProviderTest } from '../../src/cli/views.js'
import type { ProviderTestResult } from '../../src/services/api.js'

export default class ProvidersTest extends IronCommand<ProviderTestResult> {
  static override summary = 'Make one cheap real call (list models) and report status and latency'
  static override description = 'Exits 1 when the provider does not answer or refuses the key.'
  static override examples = ['<%= config.bin %> providers test openai']
  static override args = { provider: Args.string({ description: 'Provider name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<ProviderTestResult> {
    const { args, flags } = await this.parse(ProvidersTest)
    const result = await (await this.services(flags)).providers.test(args.provider)
    printProviderTest(this.out, result)
    if (!result.ok) this.setExitCode(1)
    return result
  }
}
