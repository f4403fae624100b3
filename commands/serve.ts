import { Flags } from '@oclif/core'
import { IronCommand, localStoreFlags } from '../src/cli/base-command.js'
import { durationFlag } from '../src/cli/duration-flag.js'
import { formatDuration } from '../src/core/time.js'
import { type ServeInfo, serve } from '../src/server/serve.js'
import { migrateStore } from '../src/services/migrate.js'

export default class Serve extends IronCommand<ServeInfo> {
  static override summary =
    'Run the control panel for a team: the control plane over HTTP, with sign-in and roles'
  static override description =
    'Serves the REST API of SPEC §9 under /api/v1 (the OpenAPI document at /api/v1/openapi.json), ' +
    '/api/health, /metrics and the event stream /api/v1/events, on the same store as every command. ' +
    'Members sign in with `iron login <url>`; their commands then go to this server. It refuses to start ' +
    'on a store without an admin (create one with `iron users create NAME --admin`), and to listen beyond ' +
    'this machine without TLS. Behind a load balancer or proxy, set serve.trusted_proxies (IP addresses or ' +
    'CIDR ranges) so that login limits and audit records take the client address from its X-Forwarded-For; ' +
    'without it that header is ignored. Ctrl-C or SIGTERM stops it after the requests in flight. ' +
    'With --db postgres://… it runs on PostgreSQL, and several replicas may serve one database behind any ' +
    "load balancer (the ledger and the audit chain rest on the database's own transactions)."
  static override examples = [
    '<%= config.bin %> serve',
    '<%= config.bin %> serve --port 8787 --host 0.0.0.0 --tls-cert /etc/iron/cert.pem --tls-key /etc/iron/key.pem',
    'IRON_ADMIN_NAME=admin IRON_ADMIN_PASSWORD=... <%= config.bin %> serve --init-admin-from-env --db /var/lib/iron/iron.db',
    '<%= config.bin %> serve --db postgres://iron@db.internal:5432/iron --migrate --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem',
  ]
  static override flags = {
    port: Flags.integer({ description: 'Port (0 picks a free one)', default: 8787, min: 0, max: 65535 }),
    host: Flags.string({
      description: 'Address to listen on; beyond loopback it needs --tls-cert/--tls-key or --insecure-http',
      default: '127.0.0.1',
    }),
    'tls-cert': Flags.string({ description: 'PEM certificate file: serve HTTPS', dependsOn: ['tls-key'] }),
    'tls-key': Flags.string({ description: 'PEM private key file of --tls-cert', dependsOn: ['tls-cert'] }),
    'insecure-http': Flags.boolean({
      description: 'Allow plain HTTP on an address other machines can reach (a trusted network only)',
    }),
    'init-admin-from-env': Flags.boolean({
      description:
        'On a store without an admin, create one from IRON_ADMIN_NAME and IRON_ADMIN_PASSWORD (unattended deploys)',
    }),
    'drain-timeout': durationFlag({
      description: 'How long to let requests in flight finish on shutdown (10s, 1m)',
      default: '10s',
      min: 0,
    }),
    migrate: Flags.boolean({
      description:
        'First bring a PostgreSQL store to the schema this iron knows (as iron db migrate); without it, a store behind is refused',
    }),
    ...localStoreFlags,
  }

  async run(): Promise<ServeInfo> {
    const { flags } = await this.parse(Serve)
    const ctx = await this.local(flags)
    if (flags.migrate) {
      if (ctx.store.kind === 'sqlite') this.out.note('--migrate: a SQLite store is migrated as it opens')
      else {
        const done = await migrateStore(ctx.store)
        if (done.applied.length > 0)
          this.out.note(
            `Migrated ${done.location} to schema v${done.to} (${done.applied.map((v) => `v${v}`).join(', ')})`,
          )
      }
    }
    // Signals first: one that comes while starting still stops the server cleanly.
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    })
    const { server, ...info } = await serve(ctx, {
      host: flags.host,
      port: flags.port,
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      insecureHttp: flags['insecure-http'],
      initAdminFromEnv: flags['init-admin-from-env'],
      version: this.config.version,
      drainMs: flags['drain-timeout'],
      note: (line) => this.out.note(line),
      warn: (line) => this.out.warn(line),
    })
    this.out.note(`iron serve listening on ${info.url} (store ${info.store}; Ctrl-C to stop)`)
    const signal = await stopped
    this.out.note(
      `Stopping: letting requests in flight finish (up to ${formatDuration(flags['drain-timeout'])})…`,
    )
    await server.close()
    this.out.note('Stopped.')
    if (signal === 'SIGINT') this.setExitCode(130)
    return info
  }
}
