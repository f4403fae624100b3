import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import { parseDuration } from '../../src/core/time.js'
import type { IssuedToken } from '../../src/services/api.js'
import { expiresFlag } from './issue.js'

export default class TokensRotate extends IronCommand<IssuedToken> {
  static override summary = "Replace an agent's IC token; the old one stops working at once"
  static override description =
    "The agent's budget, spend and period are untouched. The new token is shown once."
  static override examples = ['<%= config.bin %> tokens rotate support-bot --yes']
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = { ...expiresFlag, ...yesFlag, ...storeFlags }

  async run(): Promise<IssuedToken> {
    const { args, flags } = await this.parse(TokensRotate)
    const expires = flags['expires-in'] ? parseDuration(flags['expires-in'], 'expiry') : undefined
    await this.confirm(
      `Rotate the IC token of ${args.agent}? The current token stops working at once.`,
      flags.yes,
    )
    const issued = await (await this.services(flags)).tokens.rotate(args.agent, { expires_in_ms: expires })
    this.out.line(issued.token)
    this.out.warn(`The old token no longer works. This new one is shown only now (${issued.agent_name}).`)
    return issued
  }
}
