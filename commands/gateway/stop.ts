import { Flags } from '@oclif/core'
import { IronCommand, localStoreFlags } from '../../src/cli/base-command.js'
import { durationFlag } from '../../src/cli/duration-flag.js'
import { formatDuration } from '../../src/core/time.js'
import { type GatewaysStopped, stopGateways } from '../../src/services/gateway-lifecycle.js'
import { localHolders } from '../../src/services/gateways.js'

export default class GatewayStop extends IronCommand<GatewaysStopped> {
  static override summary = 'Stop the gateways running on this store, gracefully, and wait until they have'
  static override description =
    'Each gateway is asked (with its admin token) to stop as on SIGTERM: it stops accepting, lets requests in ' +
    'flight finish, returns its leases and flushes its writes; the command returns once its heartbeat ' +
    'registration has ended. A gateway that iron run started for itself is left running (it stops when its run ' +
    'ends); --url stops it anyway. Exits 3 when no gateway runs on the store.'
  static override examples = [
    '<%= config.bin %> gateway stop',
    '<%= config.bin %> gateway stop --url http://127.0.0.1:8788',
    '<%= config.bin %> gateway stop --timeout 2m --json',
  ]
  static override flags = {
    url: Flags.string({ description: 'Only the gateway at this URL (when several run on the store)' }),
    timeout: durationFlag({
      description: 'How long to wait for each gateway to finish its requests and stop (30, 30s, 2m)',
      default: '30s',
    }),
    ...localStoreFlags,
  }

  async run(): Promise<GatewaysStopped> {
    const { flags } = await this.parse(GatewayStop)
    const ctx = await this.localFile(flags)
    const result = await stopGateways(ctx.config.dirs.dataDir, ctx.dbPath, localHolders(ctx), {
      timeoutMs: flags.timeout,
      url: flags.url,
    })
    for (const g of result.stopped) {
      this.out.success(
        `Stopped the gateway ${g.run ? 'an iron run started for itself ' : ''}at ${g.url} (pid ${g.pid}) after ${formatDuration(g.stopped_after_ms)}`,
      )
      if (g.run)
        this.out.warn("That run's command can no longer reach the gateway; its requests fail until it ends")
    }
    for (const g of result.left_running)
      this.out.note(
        `Left the gateway of an iron run at ${g.url} (pid ${g.pid}) running: it stops when its run ends (--url ${g.url} stops it anyway)`,
      )
    return result
  }
}
