import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printApiToken } from '../../src/cli/views.js'
import type { ApiToken } from '../../src/services/api.js'

export default class ApiTokensShow extends IronCommand<ApiToken> {
  static override summary = 'Show an API token (never its secret)'
  static override examples = ['<%= config.bin %> api-tokens show at_01jd8x4k3m5n6p7q8r9s0t1v2w']
  static override args = { token: Args.string({ description: 'API token ID (at_…)', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<ApiToken> {
    const { args, flags } = await this.parse(ApiTokensShow)
    const token = await (await this.services(flags)).apiTokens.get(args.token)
    printApiToken(this.out, token)
    return token
  }
}
