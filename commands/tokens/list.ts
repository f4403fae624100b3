import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { tokenColumns } from '../../src/cli/views.js'
import type { IcToken } from '../../src/services/api.js'

export default class TokensList extends IronCommand<IcToken[]> {
  static override summary = 'List IC tokens (prefixes only; secrets are never shown again)'
  static override description =
    "KIND is agent for an agent's own token (one live at a time) or run for one an iron run minted for its " +
    'command, which is revoked when the run ends. Revoked tokens show with --all.'
  static override examples = [
    '<%= config.bin %> tokens list',
    '<%= config.bin %> tokens list --agent support-bot --all',
  ]
  static override flags = {
    agent: Flags.string({ description: 'Only this agent (name or ID)' }),
    all: Flags.boolean({ description: 'Include revoked tokens' }),
    ...storeFlags,
  }

  async run(): Promise<IcToken[]> {
    const { flags } = await this.parse(TokensList)
    const tokens = await (await this.services(flags)).tokens.list({
      agent: flags.agent,
      include_revoked: flags.all,
    })
    this.out.table(tokens, tokenColumns, 'No tokens. Issue one with: iron tokens issue <agent>')
    return tokens
  }
}
