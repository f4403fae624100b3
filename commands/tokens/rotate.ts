import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import type { IssuedToken } from '../../src/services/api.js'
import { expiresFlag } from './issue.js'

export default class TokensRotate extends IronCommand<IssuedToken> {
  static override summary = "Replace an agent's IC token; the old one stops working at once"
  static override description =
    "The agent's budget, spend and period are untouched. The new token is shown once. Like revoke, it takes " +
    "the token's ID or its agent. A run token (iron run) cannot be rotated: it ends with its run (revoke it to " +
    'cut the run off).'
  static override examples = [
    '<%= config.bin %> tokens rotate support-bot --yes',
    '<%= config.bin %> tokens rotate ic_01jd8x4k3m5n6p7q8r9s0t1v2w --expires-in 30d --yes',
  ]
  static override args = {
    token: Args.string({ description: 'Token ID (ic_…) or agent name or ID', required: true }),
  }
  static override flags = { ...expiresFlag, ...yesFlag, ...storeFlags }

  async run(): Promise<IssuedToken> {
    const { args, flags } = await this.parse(TokensRotate)
    await this.confirm(
      `Rotate the IC token ${args.token}? The current token stops working at once.`,
      flags.yes,
    )
    const issued = await (await this.services(flags)).tokens.rotate(args.token, {
      expires_in_ms: flags['expires-in'],
    })
    this.out.line(issued.token)
    this.out.warn(`The old token no longer works. This new one is shown only now (${issued.agent_name}).`)
    return issued
  }
}
