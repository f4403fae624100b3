import type { Sql } from 'postgres'
import { CONNECT_TIMEOUT_S } from './postgres.js'

/** The channel an audit append notifies (its payload: the event's seq), at the commit of its transaction. */
export const AUDIT_CHANNEL = 'iron_audit'
/** The channel the change counters' triggers notify (its payload: the domain that changed). */
export const CHANGES_CHANNEL = 'iron_changes'

export interface PostgresListener {
  close(): Promise<void>
}

/**
 * LISTEN on the store's channels over a connection of its own, so that every replica hears what the others
 * commit. The client reconnects by itself; `onListen` runs after each (re)connect, when whatever was
 * notified while the connection was down must be caught up by reading the store.
 */
export async function listenPostgres(
  url: string,
  handlers: Record<string, (payload: string) => void>,
  onListen: () => void,
): Promise<PostgresListener> {
  const { default: postgres } = await import('postgres')
  const sql: Sql = postgres(url, {
    max: 1,
    connect_timeout: CONNECT_TIMEOUT_S,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: 'iron listen' },
  })
  try {
    for (const [channel, handler] of Object.entries(handlers)) await sql.listen(channel, handler, onListen)
  } catch (error) {
    await sql.end({ timeout: 0 }).catch(() => {})
    throw error
  }
  return { close: () => sql.end({ timeout: 1 }) }
}
