import { IronCommand, storeFlags } from '../src/cli/base-command.js'
import type { Whoami } from '../src/services/api.js'

export default class WhoamiCommand extends IronCommand<Whoami> {
  static override summary =
    'Who commands act as: the user signed in to the server, or the local store’s OS user'
  static override description =
    'In team mode (a server from --server, IRON_SERVER or iron login) the server says who the session or API ' +
    'token belongs to and its role; on the local store it is the OS user, who may do everything.'
  static override examples = [
    '<%= config.bin %> whoami',
    '<%= config.bin %> whoami --server https://iron.example.com --json',
  ]
  static override flags = { ...storeFlags }

  async run(): Promise<Whoami> {
    const { flags } = await this.parse(WhoamiCommand)
    const me = await (await this.services(flags)).whoami()
    this.out.record([
      { label: 'Mode', value: me.mode === 'server' ? `team (${me.server})` : 'local store' },
      { label: 'Actor', value: me.actor },
      { label: 'Role', value: me.role },
      { label: 'Signed in with', value: VIA[me.via] },
      ...(me.expires_at ? [{ label: 'Expires', value: me.expires_at, kind: 'time' as const }] : []),
    ])
    return me
  }
}

const VIA: Record<Whoami['via'], string> = {
  local: 'the local store (no sign-in)',
  session: 'a session (iron login)',
  api_token: 'an API token',
}
