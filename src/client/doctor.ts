import type { IronConfig } from '../config/config.js'
import type { Env } from '../config/paths.js'
import type { Vault } from '../config/vault.js'
import type { IronError } from '../core/errors.js'
import type { Whoami } from '../services/api.js'
import type { LocalContext } from '../services/context.js'
import { type DoctorCheck, type DoctorResult, runDoctor, runPostgresDoctor } from '../services/setup.js'
import type { StoreLocation } from '../store/location.js'
import { credentialFor, type ServerInEffect, TOKEN_ENV } from './context.js'
import { ServerConnection } from './http.js'

interface Health {
  status: string
  version?: string
  schema_version?: number
}

/** A PostgreSQL store for doctor to check, where a LocalContext (the embedded store) cannot be made. */
export interface PostgresDoctorTarget {
  config: IronConfig
  postgres: Extract<StoreLocation, { kind: 'postgres' }>
}

/** Checks of the machine and its store, and in team mode of the server it goes to: reachable, and signed in. */
export async function runTeamDoctor(
  ctx: LocalContext | PostgresDoctorTarget,
  server: ServerInEffect | undefined,
  options: { vault: () => Vault; env: Env; version: string; userAgent?: string },
): Promise<DoctorResult> {
  if ('postgres' in ctx) {
    const result = await runPostgresDoctor(ctx.config, ctx.postgres)
    if (!server) return result
    const checks = [...result.checks, ...(await serverChecks(server, options))]
    return { ok: checks.every((c) => c.status !== 'fail'), checks }
  }
  const local = runDoctor(ctx)
  if (!server) return local
  // In team mode the server keeps the data: a machine without a store of its own is not a fault.
  const checks = ctx.storeExists
    ? local.checks
    : [
        ...local.checks.filter((c) => c.name !== 'store' && c.name !== 'master key'),
        {
          name: 'store',
          status: 'ok' as const,
          detail: `none on this machine (commands go to ${server.url})`,
        },
      ]
  checks.push(...(await serverChecks(server, options)))
  return { ok: checks.every((c) => c.status !== 'fail'), checks }
}

async function serverChecks(
  server: ServerInEffect,
  options: { vault: () => Vault; env: Env; version: string; userAgent?: string },
): Promise<DoctorCheck[]> {
  const open = new ServerConnection({ url: server.url, timeoutMs: 5_000, userAgent: options.userAgent })
  try {
    let health: Health
    try {
      health = await open.get<Health>('/api/health')
    } catch (error) {
      const e = error as IronError
      return [{ name: 'server', status: 'fail', detail: e.message, hint: e.hint }]
    }
    if (health?.status !== 'ok') {
      return [
        {
          name: 'server',
          status: 'fail',
          detail: `${server.url}/api/health did not answer as an iron serve does`,
          hint: 'Check the URL: it should be the address iron serve listens on',
        },
      ]
    }
    const reach: DoctorCheck =
      health.version && health.version !== options.version
        ? {
            name: 'server',
            status: 'warn',
            detail: `${server.url}: iron ${health.version}, this CLI is ${options.version}`,
            hint: 'Use the same version on both sides: a newer server may answer what this CLI cannot show',
          }
        : { name: 'server', status: 'ok', detail: `${server.url}: iron ${health.version ?? '?'}, up` }
    return [reach, await sessionCheck(server, open, options)]
  } finally {
    await open.close()
  }
}

async function sessionCheck(
  server: ServerInEffect,
  open: ServerConnection,
  options: { vault: () => Vault; env: Env },
): Promise<DoctorCheck> {
  let token: string | undefined
  try {
    token = credentialFor(server, options.vault, options.env)
  } catch (error) {
    return {
      name: 'session',
      status: 'fail',
      detail: (error as IronError).message,
      hint: (error as IronError).hint,
    }
  }
  if (!token) {
    return {
      name: 'session',
      status: 'fail',
      detail: `Not signed in to ${server.url}`,
      hint: `Run: iron login ${server.url} (or set ${TOKEN_ENV} to an API token)`,
    }
  }
  try {
    const me = await open.withToken(token).get<Whoami>('/api/v1/auth/me')
    const how = me.via === 'api_token' ? 'an API token' : 'a session'
    return {
      name: 'session',
      status: 'ok',
      detail: `${me.actor} (${me.role}) with ${how}${me.expires_at ? `, until ${me.expires_at}` : ''}`,
    }
  } catch (error) {
    const e = error as IronError
    return {
      name: 'session',
      status: 'fail',
      detail: e.message,
      hint: e.exitCode === 4 ? `Sign in again: iron login ${server.url}` : e.hint,
    }
  }
}
