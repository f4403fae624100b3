import { Args } from '@oclif/core'
import { IronCommand, storeFlags, yesFlag } from '../../src/cli/base-command.js'
import type { User } from '../../src/services/api.js'

export default class UsersDelete extends IronCommand<User> {
  static override summary = 'Delete a user (their sessions end and API tokens are revoked; history stays)'
  static override description =
    'The name becomes free; the user stays visible with `iron users list --all`. Their agents stay, owned by the deleted user, until an admin gives them another owner.'
  static override examples = ['<%= config.bin %> users delete bob --yes']
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = { ...yesFlag, ...storeFlags }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersDelete)
    await this.confirm(
      `Delete user ${args.user}? Their sessions end and their API tokens stop working.`,
      flags.yes,
    )
    const user = await (await this.services(flags)).users.delete(args.user)
    this.out.success(`Deleted user ${user.name}`)
    return user
  }
}
