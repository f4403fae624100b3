import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { durationFlag } from '../../src/cli/duration-flag.js'
import type { IssuedToken } from '../../src/services/api.js'

export const expiresFlag = {
  'expires-in': durationFlag({
    description: 'Expire the token after this long (30d, 12h, 3600 for seconds); default never',
    max: 10 * 365 * 86_400_000,
  }),
}

export default class TokensIssue extends IronCommand<IssuedToken> {
  static override summary = "Issue an agent's IC token (shown once)"
  static override description =
    'The agent uses the token as its API key against the gateway. iron keeps only its SHA-256; save it now.'
  static override examples = [
    '<%= config.bin %> tokens issue support-bot',
    '<%= config.bin %> tokens issue support-bot --expires-in 30d --json',
  ]
  static override args = { agent: Args.string({ description: 'Agent name or ID', required: true }) }
  static override flags = { ...expiresFlag, ...storeFlags }

  async run(): Promise<IssuedToken> {
    const { args, flags } = await this.parse(TokensIssue)
    const issued = await (await this.services(flags)).tokens.issue(args.agent, {
      expires_in_ms: flags['expires-in'],
    })
    this.out.line(issued.token)
    this.out.warn(
      `This is the only time the token is shown; store it as the agent's API key (${issued.agent_name}).`,
    )
    return issued
  }
}
