import { Flags } from '@oclif/core'
import { IronCommand } from '../src/cli/base-command.js'
import { durationFlag } from '../src/cli/duration-flag.js'
import { budgetColumns } from '../src/cli/views.js'
import { serverInEffect } from '../src/client/context.js'
import { fetchStats, type GatewayStats, locateGateway, watchGateway } from '../src/client/gateway-watch.js'
import { HttpControlPlane } from '../src/client/http-control-plane.js'
import { type ServerSnapshot, serverSnapshot, watchServer } from '../src/client/server-watch.js'
import { usageError } from '../src/core/errors.js'

interface TopSnapshot extends GatewayStats {
  source: string
  at: string
}

export default class Top extends IronCommand<TopSnapshot | ServerSnapshot | undefined> {
  static override summary = 'Live dashboard of spend, budgets and traffic (q to quit, ? for keys)'
  static override description =
    'Follows the local gateway (found from gateway.json in the data dir) or --gateway URL; in team mode ' +
    '(--server, IRON_SERVER, or the context iron login set) the server’s event stream, with every gateway on ' +
    'its store. When stdout is not a terminal, or with --json, prints one snapshot and exits.'
  static override examples = [
    '<%= config.bin %> top',
    '<%= config.bin %> top --interval 1s',
    '<%= config.bin %> top --json | jq .budgets',
    '<%= config.bin %> top --server https://iron.example.com',
  ]
  static override flags = {
    gateway: Flags.string({ description: 'URL of the gateway to watch (default: the local one)' }),
    server: Flags.string({
      description: 'URL of an iron serve to watch (default: the server in effect, if any; see iron login)',
    }),
    'admin-token': Flags.string({
      description: "That gateway's admin token (default: from gateway.json)",
      env: 'IRON_GATEWAY_ADMIN_TOKEN',
    }),
    interval: durationFlag({
      description: 'Screen refresh interval (250ms, 1s; a number alone is seconds)',
      default: '250ms',
      min: 50,
      max: 10_000,
    }),
  }

  async run(): Promise<TopSnapshot | ServerSnapshot | undefined> {
    const { flags } = await this.parse(Top)
    const config = await this.loadConfig()
    if (flags.gateway && flags.server)
      throw usageError(
        'CONFLICTING_FLAGS',
        'Watch either a gateway (--gateway) or a server (--server), not both',
      )
    if (!flags.gateway && serverInEffect(config, { server: flags.server })) return this.#watchServer(flags)
    const source = locateGateway(config.dirs.dataDir, flags.gateway, flags['admin-token'])
    if (this.jsonEnabled() || !process.stdout.isTTY) {
      const stats = await fetchStats(source)
      this.out.record([
        { label: 'Gateway', value: source.url },
        { label: 'Uptime', value: `${stats.uptime_s}s` },
        { label: 'Requests', value: stats.requests_total },
        { label: 'Errors', value: stats.errors_total },
        { label: 'Spend', value: stats.spend_micros_total, kind: 'money' },
        { label: 'In flight', value: stats.in_flight },
      ])
      this.out.table(stats.budgets, budgetColumns, 'No agents yet.')
      return { source: source.url, at: new Date().toISOString(), ...stats }
    }
    const { showDashboard } = await import('../tui/dashboard.js')
    await showDashboard({
      source: source.url,
      intervalMs: flags.interval,
      subscribe: (handlers, signal) => watchGateway(source, handlers, signal),
    })
    return undefined
  }

  async #watchServer(flags: { server?: string; interval: number }): Promise<ServerSnapshot | undefined> {
    const cp = await this.services({ server: flags.server })
    if (!(cp instanceof HttpControlPlane)) return undefined
    if (this.jsonEnabled() || !process.stdout.isTTY) {
      const snapshot = await serverSnapshot(cp)
      this.out.record([{ label: 'Server', value: snapshot.source }])
      this.out.table(snapshot.budgets, budgetColumns, 'No agents yet.')
      return snapshot
    }
    const { showDashboard } = await import('../tui/dashboard.js')
    await showDashboard({
      source: cp.url,
      intervalMs: flags.interval,
      subscribe: (handlers, signal) => watchServer(cp, handlers, signal),
    })
    return undefined
  }
}
