import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printUser } from '../../src/cli/views.js'
import type { User } from '../../src/services/api.js'

export default class UsersActivate extends IronCommand<User> {
  static override summary = 'Activate a suspended user, or unlock one locked after failed logins'
  static override examples = ['<%= config.bin %> users activate bob']
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersActivate)
    const user = await (await this.services(flags)).users.activate(args.user)
    this.out.success(`${user.name} is active`)
    printUser(this.out, user)
    return user
  }
}
