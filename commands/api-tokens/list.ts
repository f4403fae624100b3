import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { apiTokenColumns } from '../../src/cli/views.js'
import type { ApiToken } from '../../src/services/api.js'

export default class ApiTokensList extends IronCommand<ApiToken[]> {
  static override summary = 'List API tokens (prefixes only; secrets are never shown again)'
  static override examples = [
    '<%= config.bin %> api-tokens list',
    '<%= config.bin %> api-tokens list --user ada --all --json',
  ]
  static override flags = {
    user: Flags.string({ description: "Only this user's tokens (name or ID)" }),
    all: Flags.boolean({ description: 'Include revoked tokens' }),
    ...storeFlags,
  }

  async run(): Promise<ApiToken[]> {
    const { flags } = await this.parse(ApiTokensList)
    const tokens = await (await this.services(flags)).apiTokens.list({
      user: flags.user,
      include_revoked: flags.all,
    })
    this.out.table(tokens, apiTokenColumns, 'No API tokens. Create one with: iron api-tokens create <name>')
    return tokens
  }
}
