import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printUser } from '../../src/cli/views.js'
import type { User } from '../../src/services/api.js'

export default class UsersShow extends IronCommand<User> {
  static override summary = 'Show a user'
  static override examples = [
    '<%= config.bin %> users show ada',
    '<%= config.bin %> users show user_01jd8x4k3m5n6p7q8r9s0t1v2w --json',
  ]
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersShow)
    const user = await (await this.services(flags)).users.get(args.user)
    printUser(this.out, user)
    return user
  }
}
