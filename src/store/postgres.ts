import type { Sql } from 'postgres'
import { ExitCode, IronError, usageError } from '../core/errors.js'

/** How long connecting may take before the database counts as unreachable, in seconds. */
export const CONNECT_TIMEOUT_S = 5

export interface PostgresConnection {
  sql: Sql
  /** `host:port/database`, never the user or password. */
  label: string
  /** The server's version, as `15.14`. */
  serverVersion: string
  close(): Promise<void>
}

/**
 * One connection to a PostgreSQL store (for a command: migrate, doctor), checked by asking the server its
 * version. A database that cannot be reached or refuses the login is an IronError naming it, without the
 * password. The client is loaded here only, so that commands on SQLite do not pay for it at start-up.
 */
export async function connectPostgres(url: string, safeUrl: string): Promise<PostgresConnection> {
  const { default: postgres } = await import('postgres')
  let sql: Sql
  try {
    sql = postgres(url, { max: 1, connect_timeout: CONNECT_TIMEOUT_S, onnotice: () => {} })
  } catch (error) {
    throw usageError(
      'STORE_URL_INVALID',
      `${safeUrl} is not a PostgreSQL URL iron can use: ${(error as Error).message}`,
      'Write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE',
    )
  }
  const label = labelOf(sql)
  try {
    const [row] = await sql<{ version: string }[]>`SELECT current_setting('server_version') AS version`
    const serverVersion = (row?.version ?? '?').split(' ')[0] ?? '?'
    return { sql, label, serverVersion, close: () => sql.end({ timeout: 5 }) }
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {})
    throw connectError(error, label, safeUrl)
  }
}

/** host:port/database (several hosts joined by commas), from the client's options. */
function labelOf(sql: Sql): string {
  const { host, port, database } = sql.options
  return `${host.map((h, i) => `${h}:${port[i] ?? port[0]}`).join(',')}/${database ?? ''}`
}

export function connectError(error: unknown, label: string, safeUrl: string): IronError {
  const code = String((error as { code?: unknown }).code ?? '')
  const message = (error as Error).message
  const where = `the PostgreSQL database ${label}`
  // SQLSTATE class 28: invalid authorization (a wrong password, a role or a host pg_hba.conf refuses).
  if (code.startsWith('28')) {
    return new IronError('STORE_AUTH', `${where} refused the login: ${message}`, {
      exitCode: ExitCode.auth,
      hint: `Check the user and password in the URL (or PGPASSWORD) and the server's pg_hba.conf for ${safeUrl}`,
      details: { sqlstate: code },
    })
  }
  if (code === '3D000') {
    return new IronError('STORE_NOT_FOUND', `${where} does not exist: ${message}`, {
      exitCode: ExitCode.notFound,
      hint: 'Create it first (createdb, or CREATE DATABASE as an admin), then run iron db migrate',
      details: { sqlstate: code },
    })
  }
  return new IronError('STORE_UNREACHABLE', `Cannot reach ${where}: ${reasonOf(code, message)}`, {
    hint: `Check that PostgreSQL is running there and the URL is right (--db or IRON_DB: ${safeUrl})`,
    ...(code ? { details: { code } } : {}),
  })
}

function reasonOf(code: string, message: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens on that port)'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve'
    case 'CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return `no connection within ${CONNECT_TIMEOUT_S}s`
    case 'ECONNRESET':
      return 'the connection was closed'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host'
    default:
      return message
  }
}
