import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import { printApiToken } from '../../src/cli/views.js'
import type { ApiToken } from '../../src/services/api.js'

export default class ApiTokensRevoke extends IronCommand<ApiToken> {
  static override summary = 'Revoke an API token; it stops working at once'
  static override examples = ['<%= config.bin %> api-tokens revoke at_01jd8x4k3m5n6p7q8r9s0t1v2w --yes']
  static override args = { token: Args.string({ description: 'API token ID (at_…)', required: true }) }
  static override flags = { ...yesFlag, ...storeFlags }

  async run(): Promise<ApiToken> {
    const { args, flags } = await this.parse(ApiTokensRevoke)
    await this.confirm(
      `Revoke the API token ${args.token}? Whatever uses it stops working at once.`,
      flags.yes,
    )
    const token = await (await this.services(flags)).apiTokens.revoke(args.token)
    this.out.success(`Revoked ${token.prefix}… (${token.name}) of ${token.user_name}`)
    printApiToken(this.out, token)
    return token
  }
}
