import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { ExitCode, IronError, usageError } from '../core/errors.js'
import type { LocalContext } from '../services/context.js'
import { createLocalControlPlane, type LocalControlPlane } from '../services/local/index.js'
import { startWebhookDeliverer } from '../services/webhooks.js'
import type { EventStreamOptions } from './events.js'
import { serveListenError } from './listen.js'
import { type RunningServer, startServer } from './server.js'

/**
 * `iron serve`: the checks before listening (TLS or loopback, an admin to sign in), then the server. Each
 * refusal says why and what to do instead.
 */

export interface ServeInput {
  host: string
  port: number
  tlsCert?: string
  tlsKey?: string
  insecureHttp?: boolean
  initAdminFromEnv?: boolean
  env?: NodeJS.ProcessEnv
  version: string
  drainMs?: number
  events?: EventStreamOptions
  /** Where notes go (stderr). */
  note?: (line: string) => void
  warn?: (line: string) => void
}

export interface ServeInfo {
  url: string
  store: string
  tls: boolean
  /** The admin created from IRON_ADMIN_NAME/IRON_ADMIN_PASSWORD, when --init-admin-from-env made one. */
  admin_created: string | null
}

export const ADMIN_NAME_ENV = 'IRON_ADMIN_NAME'
export const ADMIN_PASSWORD_ENV = 'IRON_ADMIN_PASSWORD'

/** Whether the address is this machine's own: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.')
  return false
}

export async function serve(
  ctx: LocalContext,
  input: ServeInput,
): Promise<ServeInfo & { server: RunningServer }> {
  const tls = readTls(input)
  if (!tls && !isLoopback(input.host)) {
    if (!input.insecureHttp) {
      throw usageError(
        'INSECURE_HTTP_REFUSED',
        `iron serve will not listen on ${input.host} over plain HTTP: passwords and session tokens would cross the network readable by anyone on the way`,
        'Give --tls-cert and --tls-key; or listen on 127.0.0.1 behind a TLS proxy; or, on a network you trust, pass --insecure-http',
      )
    }
    input.warn?.(
      `Serving plain HTTP on ${input.host} (--insecure-http): passwords and session tokens cross the network unencrypted`,
    )
  }
  // Checked before anything is done: a bad serve.trusted_proxies refuses to start.
  const trusted = ctx.config.get('serve.trusted_proxies')
  const cp = createLocalControlPlane(ctx)
  const created = await ensureAdmin(cp, input)
  let server: RunningServer
  try {
    server = await startServer({
      ctx,
      cp,
      host: input.host,
      port: input.port,
      tls,
      version: input.version,
      drainMs: input.drainMs,
      events: input.events,
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code && !(error instanceof IronError))
      throw await serveListenError(error as NodeJS.ErrnoException, input.host, input.port)
    throw error
  }
  if (trusted !== undefined)
    input.note?.(`Client addresses are taken from X-Forwarded-For sent by ${trusted} (serve.trusted_proxies)`)
  // Budget alerts and firewall blocks go to alerts.webhook_url, off every request's path.
  const stopWebhooks = startWebhookDeliverer(ctx, { warn: input.warn })
  const close = server.close
  server.close = async () => {
    await close()
    await stopWebhooks()
  }
  return { url: server.url, store: ctx.storeLabel, tls: tls !== undefined, admin_created: created, server }
}

function readTls(input: ServeInput): { cert: Buffer; key: Buffer } | undefined {
  if (!input.tlsCert && !input.tlsKey) return undefined
  if (!input.tlsCert || !input.tlsKey)
    throw usageError('TLS_INCOMPLETE', 'TLS needs both --tls-cert and --tls-key', 'Give both files (PEM)')
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw usageError(
        'TLS_FILE_UNREADABLE',
        `Cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        'Give the path of a PEM file this user can read',
      )
    }
  }
  return { cert: read(input.tlsCert, 'certificate'), key: read(input.tlsKey, 'key') }
}

/**
 * A store without an active admin has nobody to sign in: refuse, or with --init-admin-from-env create the
 * admin from the environment once (an admin that exists is left as it is, and the variables are ignored).
 */
async function ensureAdmin(cp: LocalControlPlane, input: ServeInput): Promise<string | null> {
  const env = input.env ?? process.env
  const name = env[ADMIN_NAME_ENV]
  const password = env[ADMIN_PASSWORD_ENV]
  // The password is not left in this process's environment for anything it starts later.
  delete env[ADMIN_PASSWORD_ENV]
  if (cp.auth.hasAdmin()) {
    if (input.initAdminFromEnv)
      input.note?.(
        `This store has an admin already; ${ADMIN_NAME_ENV} and ${ADMIN_PASSWORD_ENV} are not used`,
      )
    return null
  }
  if (!input.initAdminFromEnv) {
    throw new IronError('NO_ADMIN', 'This store has no active admin, so nobody could sign in to iron serve', {
      exitCode: ExitCode.failure,
      hint: `Create one first: iron users create NAME --admin (or, for unattended deploys, iron serve --init-admin-from-env with ${ADMIN_NAME_ENV} and ${ADMIN_PASSWORD_ENV} set)`,
    })
  }
  const missing = [...(name ? [] : [ADMIN_NAME_ENV]), ...(password ? [] : [ADMIN_PASSWORD_ENV])]
  if (missing.length > 0) {
    throw usageError(
      'ADMIN_ENV_MISSING',
      `--init-admin-from-env needs ${missing.join(' and ')} in the environment`,
      `Set ${ADMIN_NAME_ENV} to the admin's name and ${ADMIN_PASSWORD_ENV} to a password of at least 12 characters`,
    )
  }
  const user = await cp.users.create({ name: name!, role: 'admin', password: password! })
  input.note?.(`Created the admin ${user.name} from ${ADMIN_NAME_ENV} and ${ADMIN_PASSWORD_ENV}`)
  return user.name
}
