import type { IronConfig } from '../config/config.js'
import { usageError } from '../core/errors.js'
import { withoutPassword } from '../core/urls.js'

/**
 * Where the store is, from the config's `db` (--db > IRON_DB > config file > default): a SQLite file, or
 * a PostgreSQL database named by a `postgres://` or `postgresql://` URL. Every command resolves its store
 * through storeLocation, so that a URL is never taken for a file name.
 */
export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | {
      kind: 'postgres'
      /** The URL as given (it may hold a password): for the client only, never printed. */
      url: string
      /** The URL without its password, to print and to put in hints. */
      safeUrl: string
    }

/** The store in effect: --db (the flag's value) > IRON_DB > the config file > the data dir's iron.db. */
export function storeInEffect(config: IronConfig, flag?: string): StoreLocation {
  return storeLocation(config.getString('db', flag))
}

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i

export function storeLocation(value: string): StoreLocation {
  if (!POSTGRES_URL.test(value)) return { kind: 'sqlite', path: value }
  return { kind: 'postgres', url: value, safeUrl: withoutPassword(value) }
}

/** For the commands that run on the embedded SQLite store only, given a PostgreSQL URL. */
export const storeUnsupported = (location: Extract<StoreLocation, { kind: 'postgres' }>) =>
  usageError(
    'STORE_UNSUPPORTED',
    `A local gateway runs on the embedded SQLite store (its file and journal); ${location.safeUrl} is PostgreSQL`,
    'On PostgreSQL, run iron serve --db <url> and let gateways lease from it (iron login <server>, then iron gateway start); or point --db / IRON_DB at a SQLite file',
  )

export { withoutPassword }
