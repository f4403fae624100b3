import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { readNewPassword } from '../../src/cli/password.js'
import { printUser } from '../../src/cli/views.js'
import type { User, UserRole } from '../../src/services/api.js'

export const roleFlag = Flags.string({
  description: 'admin (everything), user (their own agents), or viewer (reads their own)',
  options: ['admin', 'user', 'viewer'],
})

export default class UsersCreate extends IronCommand<User> {
  static override summary = 'Create a user of iron serve'
  static override description =
    'The password is asked twice at a hidden prompt, or read from stdin with --password-stdin (at least 12 characters, not the name). ' +
    'iron serve refuses to start until an active admin exists: create one with --admin.'
  static override examples = [
    '<%= config.bin %> users create ada --admin',
    '<%= config.bin %> users create bob --role viewer --display-name "Bob B." --email bob@example.com',
    'printf \'%s\' "$PASSWORD" | <%= config.bin %> users create ci --password-stdin --json',
  ]
  static override args = {
    name: Args.string({ description: 'User name: letters, digits, . _ -', required: true }),
  }
  static override flags = {
    role: { ...roleFlag, exclusive: ['admin'] },
    admin: Flags.boolean({ description: 'Same as --role admin', exclusive: ['role'] }),
    'display-name': Flags.string({ description: 'The name people see' }),
    email: Flags.string({ description: 'Email address' }),
    'password-stdin': Flags.boolean({ description: 'Read the password from stdin instead of a prompt' }),
    'no-password': Flags.boolean({
      description: 'No password: the account signs in with API tokens only',
      exclusive: ['password-stdin'],
    }),
    ...storeFlags,
  }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersCreate)
    const password = flags['no-password']
      ? undefined
      : await readNewPassword({ stdin: flags['password-stdin'], who: args.name })
    const user = await (await this.services(flags)).users.create({
      name: args.name,
      role: flags.admin ? 'admin' : (flags.role as UserRole | undefined),
      display_name: flags['display-name'],
      email: flags.email,
      password,
    })
    this.out.success(`Created ${user.role} ${user.name}`)
    printUser(this.out, user)
    return user
  }
}
