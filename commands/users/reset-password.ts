import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { readNewPassword } from '../../src/cli/password.js'
import { printUser } from '../../src/cli/views.js'
import type { User } from '../../src/services/api.js'

export default class UsersResetPassword extends IronCommand<User> {
  static override summary = "Set a user's password; signs them out everywhere and lifts a lock"
  static override description =
    'The new password is asked twice at a hidden prompt, or read from stdin with --password-stdin (at least 12 characters, not the name).'
  static override examples = [
    '<%= config.bin %> users reset-password bob',
    'printf \'%s\' "$PASSWORD" | <%= config.bin %> users reset-password bob --password-stdin',
  ]
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = {
    'password-stdin': Flags.boolean({ description: 'Read the password from stdin instead of a prompt' }),
    ...storeFlags,
  }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersResetPassword)
    const password = await readNewPassword({ stdin: flags['password-stdin'], who: args.user })
    const user = await (await this.services(flags)).users.resetPassword(args.user, password)
    this.out.success(`New password set for ${user.name}; their sessions ended`)
    printUser(this.out, user)
    return user
  }
}
