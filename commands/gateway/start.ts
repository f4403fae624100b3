import { homedir } from 'node:os'
import { join } from 'node:path'
import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { durationFlag } from '../../src/cli/duration-flag.js'
import { serverInEffect } from '../../src/client/context.js'
import { formatDuration } from '../../src/core/time.js'
import { type GatewayInfo, startGateway } from '../../src/gateway/server.js'
import { localHolders } from '../../src/services/gateways.js'
import { LocalGatewayControl } from '../../src/services/local/gateway-control.js'
import { RemoteGatewayControl } from '../../src/services/remote/gateway-control.js'
import {
  gatewayService,
  gatewayServiceSpec,
  masterKeyNote,
  SERVICE_KINDS,
  type ServiceFile,
  type ServiceKind,
} from '../../src/services/service-file.js'
import { startWebhookDeliverer } from '../../src/services/webhooks.js'

const MAX_BODY = 16 * 1024 * 1024

export default class GatewayStart extends IronCommand<GatewayInfo | ServiceFile> {
  static override summary = 'Run the gateway: the metered, budget-enforcing LLM proxy (until Ctrl-C)'
  static override description =
    'Agents point their OpenAI or Anthropic SDK at it (base URL http://<host>:<port>/v1 for OpenAI, ' +
    'http://<host>:<port> for Anthropic) and use their IC token as the API key. The URL and an admin token ' +
    'for /_iron/metrics, /_iron/stats and /_iron/events are written to gateway.json in the data dir; ' +
    '/_iron/health needs no token. On Ctrl-C, SIGTERM or `iron gateway stop` it stops accepting, lets requests ' +
    'in flight finish, and flushes its writes. `iron gateway status` shows what runs. With --server (or ' +
    'IRON_SERVER, or after `iron login`) it is a team gateway: budgets are leased from that iron serve, reports ' +
    'wait in gateway-outbox/ in the data dir until the server has them, and this machine needs no store.'
  static override examples = [
    '<%= config.bin %> gateway start',
    '<%= config.bin %> gateway start --port 9000 --host 0.0.0.0',
    '<%= config.bin %> gateway start --print-service systemd > ~/.config/systemd/user/iron-gateway.service',
    '<%= config.bin %> gateway start --print-service launchd > ~/Library/LaunchAgents/iron.gateway.plist',
    'OPENAI_BASE_URL=http://127.0.0.1:8788/v1 OPENAI_API_KEY=iron_ic_... python agent.py',
    '<%= config.bin %> gateway start --server https://iron.example.com',
  ]
  static override flags = {
    port: Flags.integer({
      description: 'Port (default: config gateway.port, 8788; 0 picks a free one)',
      min: 0,
      max: 65535,
    }),
    host: Flags.string({ description: 'Address to listen on (default: config gateway.host, 127.0.0.1)' }),
    'max-body': Flags.integer({
      description: 'Largest request body accepted, in bytes',
      default: MAX_BODY,
      min: 1024,
    }),
    'drain-timeout': durationFlag({
      description: 'How long to let requests in flight finish on shutdown (10, 10s, 2m)',
      default: '10s',
      min: 0,
    }),
    'print-service': Flags.string({
      description:
        'Print a systemd user unit or a launchd agent that runs this gateway as a service (with these flags), and exit; no secrets in it',
      options: [...SERVICE_KINDS],
    }),
    audit: Flags.boolean({
      description: 'Benchmarks only: --no-audit skips the per-request audit events, to measure their cost',
      default: true,
      allowNo: true,
      hidden: true,
    }),
    firewall: Flags.boolean({
      description: 'Benchmarks only: --no-firewall skips the safety firewall, to measure its cost',
      default: true,
      allowNo: true,
      hidden: true,
    }),
    'mock-chunk-delay': Flags.integer({
      description: 'Milliseconds between streamed chunks of the mock provider',
      default: 0,
      min: 0,
      hidden: true,
    }),
    ...storeFlags,
  }

  async run(): Promise<GatewayInfo | ServiceFile> {
    const { flags } = await this.parse(GatewayStart)
    // Team mode (--server, IRON_SERVER, or iron login's context; --db means the local store): budgets leased
    // from that iron serve, this machine's store untouched.
    const server = serverInEffect(await this.loadConfig(), flags)
    const ctx = server ? undefined : await this.localFile(flags)
    const config = ctx?.config ?? (await this.loadConfig())
    if (flags['print-service']) {
      const kind = flags['print-service'] as ServiceKind
      const service = gatewayService(
        kind,
        gatewayServiceSpec(config, {
          node: process.execPath,
          bin: join(this.config.root, 'bin', 'run.js'),
          db: ctx?.dbPath,
          server: server?.url,
          home: process.env.HOME || homedir(),
          drainMs: flags['drain-timeout'],
          host: flags.host,
          port: flags.port,
          maxBody: flags['max-body'] === MAX_BODY ? undefined : flags['max-body'],
        }),
      )
      for (const line of service.content.trimEnd().split('\n')) this.out.line(line)
      this.out.note(`Save it as ${service.path}, then:\n  ${service.install.join('\n  ')}`)
      if (process.env.IRON_MASTER_KEY && ctx) this.out.warn(masterKeyNote(kind, config.dirs.configDir))
      return service
    }
    // Listen for Ctrl-C before saying we listen: a signal sent as soon as the line appears (or during start-up)
    // must stop the gateway gracefully, never kill it mid-write. A second Ctrl-C while draining forces the exit.
    let stop: (signal: NodeJS.Signals) => void = () => {}
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      stop = resolve
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    })
    const running = await startGateway({
      control: ctx
        ? new LocalGatewayControl(ctx, { audit: flags.audit })
        : new RemoteGatewayControl({
            server: server!.url,
            dataDir: config.dirs.dataDir,
            version: this.config.version,
          }),
      host: String(config.get('gateway.host', flags.host)),
      port: Number(config.get('gateway.port', flags.port)),
      dataDir: config.dirs.dataDir,
      maxBodyBytes: flags['max-body'],
      drainMs: flags['drain-timeout'],
      mock: { chunkDelayMs: flags['mock-chunk-delay'] },
      leaseTtlMs: Number(config.get('gateway.lease_ttl')) * 1000,
      firewall: flags.firewall,
      holders: ctx && localHolders(ctx),
      // `iron gateway stop` asks over the admin route; it stops as on SIGTERM.
      onStopRequested: () => stop('SIGTERM'),
    })
    const { gateway: _, close, ...info } = running
    // Alerts go out from here, beside the gateway, never on a request's path (src/services/webhooks.ts).
    const stopWebhooks = ctx
      ? startWebhookDeliverer(ctx, { warn: (message) => this.out.warn(message) })
      : async () => {}
    if (info.released_reservations)
      this.out.note(
        `Gave back ${info.released_reservations} lease(s) and reservation(s) held by gateways whose heartbeat had run out`,
      )
    this.out.note(
      `iron gateway listening on ${info.url} (${ctx ? `store ${ctx.dbPath}` : `budgets from ${server!.url}`}; Ctrl-C to stop)`,
    )
    const signal = await stopped
    this.out.note(
      `Stopping: letting requests in flight finish (up to ${formatDuration(flags['drain-timeout'])})…`,
    )
    await close()
    await stopWebhooks()
    this.out.note('Stopped.')
    if (signal === 'SIGINT') this.setExitCode(130)
    return { ...info, admin_token: '(in gateway.json)' }
  }
}
