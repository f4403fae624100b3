import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import { printToken } from '../../src/cli/views.js'
import type { IcToken } from '../../src/services/api.js'

export default class TokensRevoke extends IronCommand<IcToken> {
  static override summary = 'Revoke an IC token; it stops working at once'
  static override examples = [
    '<%= config.bin %> tokens revoke support-bot --yes',
    '<%= config.bin %> tokens revoke ic_01jd8x4k3m5n6p7q8r9s0t1v2w --yes',
  ]
  static override args = {
    token: Args.string({ description: 'Token ID (ic_…) or agent name or ID', required: true }),
  }
  static override flags = { ...yesFlag, ...storeFlags }

  async run(): Promise<IcToken> {
    const { args, flags } = await this.parse(TokensRevoke)
    await this.confirm(
      `Revoke the IC token ${args.token}? Whatever uses it stops working at once.`,
      flags.yes,
    )
    const token = await (await this.services(flags)).tokens.revoke(args.token)
    this.out.success(`Revoked ${token.prefix}… of ${token.agent_name}`)
    printToken(this.out, token)
    return token
  }
}
