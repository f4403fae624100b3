import { Args } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printUser } from '../../src/cli/views.js'
import type { User } from '../../src/services/api.js'

export default class UsersSuspend extends IronCommand<User> {
  static override summary = 'Suspend a user: signed out everywhere, API tokens refused until activated'
  static override description =
    'Their agents keep their IC tokens and budgets; suspend those with iron agents update AGENT --status suspended.'
  static override examples = ['<%= config.bin %> users suspend bob']
  static override args = { user: Args.string({ description: 'User name or ID', required: true }) }
  static override flags = { ...storeFlags }

  async run(): Promise<User> {
    const { args, flags } = await this.parse(UsersSuspend)
    const user = await (await this.services(flags)).users.suspend(args.user)
    this.out.success(
      `Suspended ${user.name}; their sessions ended. Undo with: iron users activate ${user.name}`,
    )
    printUser(this.out, user)
    return user
  }
}
