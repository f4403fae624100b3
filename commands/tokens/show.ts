import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printToken } from '../../src/cli/views.js'
import type { IcToken } from '../../src/services/api.js'

export default class TokensShow extends IronCommand<IcToken> {
  static override summary = "Show an IC token's record (by token ID, or an agent's current token)"
  static override examples = [
    '<%= config.bin %> tokens show support-bot',
    '<%= config.bin %> tokens show ic_01jd8x4k3m5n6p7q8r9s0t1v2w',
  ]
  static override args = {
    token: Args.string({ description: 'Token ID (ic_…) or agent name or ID', required: true }),
  }
  static override flags = { ...storeFlags }

  async run(): Promise<IcToken> {
    const { args, flags } = await this.parse(TokensShow)
    const token = await (await this.services(flags)).tokens.get(args.token)
    printToken(this.out, token)
    return token
  }
}
