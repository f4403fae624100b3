import { Args, Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { durationFlag } from '../../src/cli/duration-flag.js'
import type { IssuedApiToken, UserRole } from '../../src/services/api.js'

export default class ApiTokensCreate extends IronCommand<IssuedApiToken> {
  static override summary = 'Create an API token for automation (shown once)'
  static override description =
    "An API token (iron_at_…) signs in to iron serve as its user, with at most the user's role; pass it as IRON_TOKEN or iron login --token. " +
    'iron keeps only its SHA-256; save it now. On the local store, name the user with --user.'
  static override examples = [
    '<%= config.bin %> api-tokens create ci-deploy --user ada --expires-in 90d',
    '<%= config.bin %> api-tokens create dashboards --role viewer --json',
  ]
  static override args = {
    name: Args.string({
      description: 'What the token is for (a label, 1 to 100 characters)',
      required: true,
    }),
  }
  static override flags = {
    user: Flags.string({ description: 'Whose token (admins only; default: you)' }),
    role: Flags.string({
      description: "Narrower than the user's role, e.g. viewer (default: the user's role)",
      options: ['admin', 'user', 'viewer'],
    }),
    'expires-in': durationFlag({
      description: 'Expire the token after this long (90d, 12h, 3600 for seconds); default never',
      max: 10 * 365 * 86_400_000,
    }),
    ...storeFlags,
  }

  async run(): Promise<IssuedApiToken> {
    const { args, flags } = await this.parse(ApiTokensCreate)
    const issued = await (await this.services(flags)).apiTokens.create({
      name: args.name,
      user: flags.user,
      role: flags.role as UserRole | undefined,
      expires_in_ms: flags['expires-in'],
    })
    this.out.line(issued.token)
    this.out.warn(
      `This is the only time the token is shown; store it where the automation reads it (${issued.user_name}, ${issued.role}, ${issued.id}).`,
    )
    return issued
  }
}
