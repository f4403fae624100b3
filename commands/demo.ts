import { setTimeout as sleep } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { IronCommand } from '../src/cli/base-command.js'
import { durationFlag } from '../src/cli/duration-flag.js'
import { printDemoSummary } from '../src/cli/views.js'
import { watchGateway } from '../src/client/gateway-watch.js'
import { formatDuration } from '../src/core/time.js'
import { type DemoSummary, startDemo } from '../src/gateway/demo.js'

export default class Demo extends IronCommand<DemoSummary> {
  static override summary =
    'See the whole product work: agents, budgets, gateway, firewall and iron top, on a demo store'
  static override description =
    'Creates a demo store in the data dir with a mock provider and four agents (one runs out of budget, one ' +
    'trips the firewall), starts a gateway, drives traffic, and opens iron top (q to stop). When not in a ' +
    'terminal it runs for --duration and prints a summary. The demo store is removed afterwards unless --keep.'
  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --duration 30s --json',
    '<%= config.bin %> demo --keep',
  ]
  static override flags = {
    keep: Flags.boolean({ description: 'Keep the demo store (demo.db in the data dir) afterwards' }),
    duration: durationFlag({
      description: 'How long to run when not in a terminal (20, 20s, 2m)',
      default: '15s',
      max: 3_600_000,
    }),
  }

  async run(): Promise<DemoSummary> {
    const { flags } = await this.parse(Demo)
    const demo = await startDemo({ config: await this.loadConfig(), env: process.env, keep: flags.keep })
    const interactive = process.stdout.isTTY && process.stdin.isTTY && !this.jsonEnabled()
    if (interactive) {
      const { showDashboard } = await import('../tui/dashboard.js')
      const source = { url: demo.gateway.url, token: demo.gateway.admin_token }
      await showDashboard({
        source: `demo ${source.url}`,
        intervalMs: 250,
        subscribe: (handlers, signal) => watchGateway(source, handlers, signal),
      })
    } else {
      this.out.note(
        `iron demo: gateway on ${demo.gateway.url}, traffic for ${formatDuration(flags.duration)}…`,
      )
      await sleep(flags.duration)
    }
    const summary = await demo.stop()
    printDemoSummary(this.out, summary)
    this.out.note(
      `Audit trail ${summary.audit_verified ? 'verified' : 'DID NOT VERIFY'}. ` +
        (summary.kept
          ? `Demo store kept: ${summary.store} (use --db ${summary.store})`
          : 'Demo store removed (use --keep to keep it).'),
    )
    return summary
  }
}
