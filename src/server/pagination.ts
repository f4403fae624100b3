import { HttpError } from './errors.js'

/**
 * Cursor pagination over a service's list. Pages keep the service's order (the CLI's HTTP client joins
 * them into the array the local service returns); the cursor is opaque to clients and names the last item
 * given, by its id and its position key, so a page is neither repeated nor skipped when items are added or
 * removed between two requests.
 */

export const DEFAULT_PAGE = 100

export interface Page<T> {
  data: T[]
  next_cursor: string | null
}

type Key = Array<string | number>

interface Cursor {
  /** The last item's id (or its key's last part, for items without an id). */
  i: string
  /** The last item's position key. */
  k: Key
}

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function decodeCursor(cursor: string): unknown {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url')
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalidCursor()
  }
}

export const invalidCursor = () =>
  new HttpError(400, 'INVALID_CURSOR', 'The cursor is not one this server gave', {
    hint: 'Pass back next_cursor exactly as received, or leave cursor out to start from the first page',
  })

function isCursor(value: unknown): value is Cursor {
  if (typeof value !== 'object' || value === null) return false
  const c = value as Record<string, unknown>
  return (
    typeof c.i === 'string' &&
    Array.isArray(c.k) &&
    c.k.length <= 8 &&
    c.k.every((part) => typeof part === 'string' || typeof part === 'number')
  )
}

function compare(a: Key, b: Key): number {
  for (let n = 0; n < Math.max(a.length, b.length); n++) {
    const x = a[n]
    const y = b[n]
    if (x === y) continue
    if (x === undefined) return -1
    if (y === undefined) return 1
    if (typeof x === 'number' && typeof y === 'number') return x - y
    return String(x) < String(y) ? -1 : 1
  }
  return 0
}

/** One page of `items` (in the service's order) after `cursor`. */
export function paginate<T>(
  items: readonly T[],
  options: { limit?: number; cursor?: string; key: (item: T) => Key; id: (item: T) => string },
): Page<T> {
  const limit = options.limit ?? DEFAULT_PAGE
  let start = 0
  if (options.cursor !== undefined) {
    const cursor = decodeCursor(options.cursor)
    if (!isCursor(cursor)) throw invalidCursor()
    const at = items.findIndex((item) => options.id(item) === cursor.i)
    // The last item given is gone: continue with the first one after its position.
    start = at !== -1 ? at + 1 : firstAfter(items, cursor.k, options.key)
  }
  const data = items.slice(start, start + limit)
  const last = data.at(-1)
  const more = start + limit < items.length
  return {
    data,
    next_cursor:
      more && last !== undefined ? encodeCursor({ i: options.id(last), k: options.key(last) }) : null,
  }
}

function firstAfter<T>(items: readonly T[], key: Key, keyOf: (item: T) => Key): number {
  const at = items.findIndex((item) => compare(keyOf(item), key) > 0)
  return at === -1 ? items.length : at
}
