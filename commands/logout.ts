import { Flags } from '@oclif/core'
import { IronCommand } from '../src/cli/base-command.js'
import { loginVault, serverInEffect } from '../src/client/context.js'
import { type LogoutView, signOut } from '../src/client/login.js'
import { usageError } from '../src/core/errors.js'

export default class Logout extends IronCommand<LogoutView> {
  static override summary = 'Sign out of the server: it revokes the session, and this machine forgets it'
  static override description =
    'The context stays: commands still go to the server and say to sign in again. To use the local store ' +
    'again: iron config unset server. An API token stays valid until revoked (iron api-tokens revoke).'
  static override examples = [
    '<%= config.bin %> logout',
    '<%= config.bin %> logout --server https://iron.example.com',
  ]
  static override flags = {
    server: Flags.string({ description: 'The server to sign out of (default: the one in effect)' }),
  }

  async run(): Promise<LogoutView> {
    const { flags } = await this.parse(Logout)
    const config = await this.loadConfig()
    const server = serverInEffect(config, flags)
    if (!server) {
      throw usageError(
        'NO_SERVER',
        'No server is in effect, so there is nothing to sign out of (commands use the local store)',
        'Name one with --server URL',
      )
    }
    const view = await signOut(server, loginVault(config), { userAgent: `iron-cli/${this.config.version}` })
    if (!view.user) this.out.note(`Not signed in to ${view.server}; nothing to forget.`)
    else this.out.success(`Signed out of ${view.server} (${view.user})`)
    if (view.note) this.out.warn(view.note)
    if (server.source === 'file')
      this.out.note(
        `Commands still go to ${view.server}: iron login ${view.server} to sign in, or iron config unset server for the local store.`,
      )
    return view
  }
}
