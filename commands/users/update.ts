import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printUser } from '../../src/cli/views.js'
import type { User, UserRole } from '../../src/services/api.js'
import { roleFlag } from './create.js'

export default class UsersUpdate extends IronCommand<User> {
  static override summary = "Change a user's role, display name or email"
  static override description =
    'A new role applies at once, to live sessions and API tokens too (a token never acts above its user). The last active admin keeps the admin role.'
  static override examples = [
    '<%= config.bin %> users update bob --role admin',
    '<%= config.bin %> users update bob --display-name "Bob Builder" --no-email',
  ]
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = {
    role: roleFlag,
    'display-name': Flags.string({ description: 'The name people see' }),
    email: Flags.string({ description: 'Email address', exclusive: ['no-email'] }),
    'no-email': Flags.boolean({ description: 'Remove the email address' }),
    ...storeFlags,
  }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersUpdate)
    const user = await (await this.services(flags)).users.update(args.user, {
      role: flags.role as UserRole | undefined,
      display_name: flags['display-name'],
      email: flags['no-email'] ? null : flags.email,
    })
    this.out.success(`Updated ${user.name}`)
    printUser(this.out, user)
    return user
  }
}
