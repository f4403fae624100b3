import { IronCommand, localStoreFlags } from '../../src/cli/base-command.js'
import { type GatewaysStatus, gatewaysStatus } from '../../src/services/gateway-lifecycle.js'
import { localHolders } from '../../src/services/gateways.js'

const STATES = {
  running: 'running',
  not_responding: 'not responding (its heartbeat ran out: killed or stalled)',
  unknown: 'not running (no heartbeat in this store)',
}

export default class GatewayStatusCommand extends IronCommand<GatewaysStatus> {
  static override summary = 'Show the gateways running on this store: where, since when, requests served'
  static override description =
    'A gateway registers in the data dir (gateways/) and renews a heartbeat in the store; it is running while ' +
    'that heartbeat is current (a process id alone proves nothing). Exits 3 when no gateway runs on the store.'
  static override examples = [
    '<%= config.bin %> gateway status',
    '<%= config.bin %> gateway status --json',
    '<%= config.bin %> gateway status --db ./team.db',
  ]
  static override flags = { ...localStoreFlags }

  async run(): Promise<GatewaysStatus> {
    const { flags } = await this.parse(GatewayStatusCommand)
    const ctx = await this.localFile(flags)
    const status = await gatewaysStatus(ctx.config.dirs.dataDir, ctx.dbPath, localHolders(ctx))
    if (status.gateways.length === 0) this.out.note(`No gateway is registered on the store ${status.store}`)
    for (const [i, g] of status.gateways.entries()) {
      if (i > 0) this.out.line()
      this.out.record([
        { label: 'URL', value: g.url },
        { label: 'State', value: STATES[g.state] },
        { label: 'Since', value: g.started_at, kind: 'time' },
        { label: 'Requests', value: g.requests_total, kind: 'number' },
        { label: 'In flight', value: g.in_flight, kind: 'number' },
        { label: 'Process', value: `pid ${g.pid}${g.host ? ` on ${g.host}` : ''}` },
        { label: 'Heartbeat', value: g.heartbeat_at, kind: 'time' },
        { label: 'Store', value: g.store },
      ])
    }
    if (status.other_stores.length > 0)
      this.out.note(
        `Gateways are registered on other stores too: ${status.other_stores.join(', ')} (see them with --db)`,
      )
    if (!status.gateways.some((g) => g.state === 'running')) this.setExitCode(3)
    return status
  }
}
