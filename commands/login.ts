import { Args, Flags } from '@oclif/core'
import { IronCommand } from '../src/cli/base-command.js'
import { readLoginInput } from '../src/cli/login-input.js'
import { loginVault } from '../src/client/context.js'
import { isPlainHttpOffMachine, normalizeServerUrl } from '../src/client/http.js'
import { type LoginView, signIn } from '../src/client/login.js'

export default class Login extends IronCommand<LoginView> {
  static override summary = 'Sign in to an iron serve; management commands then go to that server'
  static override description =
    'Asks for the password at a hidden prompt (or reads it with --password-stdin), or signs in with an API ' +
    'token (--token: from IRON_TOKEN, stdin or a hidden prompt). The session or token is kept in the OS ' +
    'keychain, or without one in a 0600 file in the config dir, never in the config file; the config’s ' +
    'server is set to the URL, like a kubectl context. --server or IRON_SERVER override it for one command, ' +
    '--db uses a local store, and iron config unset server goes back to the local store for good.'
  static override examples = [
    '<%= config.bin %> login https://iron.example.com',
    'pass show iron | <%= config.bin %> login https://iron.example.com --name alice --password-stdin',
    'IRON_TOKEN=iron_at_… <%= config.bin %> login https://iron.example.com --token',
  ]
  static override args = {
    url: Args.string({ description: "The server's URL: http(s)://host[:port][/path]", required: true }),
  }
  static override flags = {
    name: Flags.string({ description: 'User name (asked for when in a terminal)' }),
    'password-stdin': Flags.boolean({ description: 'Read the password from stdin' }),
    token: Flags.boolean({
      description: 'Sign in with an API token (iron_at_…) from IRON_TOKEN, stdin, or a hidden prompt',
    }),
  }

  async run(): Promise<LoginView> {
    const { args, flags } = await this.parse(Login)
    const url = normalizeServerUrl(args.url)
    if (isPlainHttpOffMachine(url))
      this.out.warn(
        `${url} is plain HTTP off this machine: the password and session cross the network readable. Use https.`,
      )
    const config = await this.loadConfig()
    const input = await readLoginInput(url, flags)
    const view = await signIn(config, loginVault(config), input, {
      userAgent: `iron-cli/${this.config.version}`,
    })
    this.out.success(`Signed in to ${view.server} as ${view.user} (${view.role}); commands now go there`)
    this.out.record([
      { label: 'Server', value: view.server },
      { label: 'User', value: view.user },
      { label: 'Role', value: view.role },
      { label: 'Signed in with', value: view.via === 'session' ? 'a session' : 'an API token' },
      { label: 'Expires', value: view.expires_at, kind: 'time' },
      { label: 'Kept in', value: view.stored_in },
    ])
    return view
  }
}
