import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { userColumns } from '../../src/cli/views.js'
import type { User } from '../../src/services/api.js'

export default class UsersList extends IronCommand<User[]> {
  static override summary = 'List users'
  static override examples = ['<%= config.bin %> users list', '<%= config.bin %> users list --all --json']
  static override flags = {
    all: Flags.boolean({ description: 'Include deleted users' }),
    ...storeFlags,
  }

  async run(): Promise<User[]> {
    const { flags } = await this.parse(UsersList)
    const users = await (await this.services(flags)).users.list({ include_deleted: flags.all })
    this.out.table(users, userColumns, 'No users yet. Create an admin with: iron users create NAME --admin')
    return users
  }
}
