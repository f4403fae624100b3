import { randomBytes } from 'node:crypto'
import { usageError } from './errors.js'

/** ID prefixes of SPEC §2. */
export const ID_PREFIXES = [
  'user',
  'agent',
  'proj',
  'ic',
  'at',
  'prov',
  'lease',
  'breq',
  'req',
  'aud',
  'ses',
] as const
export type IdPrefix = (typeof ID_PREFIXES)[number]

const NOUNS: Record<IdPrefix, string> = {
  user: 'user',
  agent: 'agent',
  proj: 'project',
  ic: 'IC token',
  at: 'API token',
  prov: 'provider',
  lease: 'lease',
  breq: 'budget request',
  req: 'request',
  aud: 'audit event',
  ses: 'session',
}

// Crockford base32, lowercase: no i, l, o, u.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
const BODY_LENGTH = 26
const TIME_LENGTH = 10
const BODY_RE = /^[0-9a-hjkmnp-tv-z]{26}$/

// Random bytes come from a pool refilled 4 KB at a time: one system call per 256 IDs, not one per ID.
const POOL_SIZE = 4096
let pool = Buffer.alloc(0)
let poolOffset = 0
function randomPool(size: number): Buffer {
  if (poolOffset + size > pool.length) {
    pool = randomBytes(POOL_SIZE)
    poolOffset = 0
  }
  poolOffset += size
  return pool.subarray(poolOffset - size, poolOffset)
}

let lastTime = -1
let lastTimeText = ''
const lastRandom = new Uint8Array(16)

function encodeTime(ms: number): string {
  let out = ''
  let rest = ms
  for (let i = 0; i < TIME_LENGTH; i++) {
    out = ALPHABET[rest % 32] + out
    rest = Math.floor(rest / 32)
  }
  return out
}

/** 16 random base32 digits; within one millisecond the previous value + 1, so IDs stay sortable. */
function nextRandom(now: number): Uint8Array {
  if (now === lastTime) {
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      if (lastRandom[i]! < 31) {
        lastRandom[i]!++
        return lastRandom
      }
      lastRandom[i] = 0
    }
  }
  lastTime = now
  lastTimeText = encodeTime(now)
  const fresh = randomPool(16)
  for (let i = 0; i < 16; i++) lastRandom[i] = fresh[i]! & 31
  return lastRandom
}

/** A new ID: prefix, underscore, 26 lowercase Crockford base32 characters (48-bit ms time + 80 random bits). */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  const random = nextRandom(now)
  let text = `${prefix}_${lastTimeText}`
  for (let i = 0; i < random.length; i++) text += ALPHABET[random[i]!]
  return text
}

export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && BODY_RE.test(value.slice(prefix.length + 1))
}

/** Whether a value looks like it was meant to be an ID of that kind (used to tell IDs from names). */
export function looksLikeId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`)
}

/** The time encoded in an ID, in ms since the epoch. */
export function idTime(id: string): number {
  const body = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 1 + TIME_LENGTH)
  let ms = 0
  for (const ch of body) ms = ms * 32 + ALPHABET.indexOf(ch)
  return ms
}

/** Validate an ID typed by a user; the error names the expected form. */
export function parseId(value: string, prefix: IdPrefix): string {
  const trimmed = value.trim()
  const normalized = trimmed.toLowerCase()
  if (isId(normalized, prefix)) return normalized
  throw usageError(
    'INVALID_ID',
    `'${trimmed}' is not a valid ${NOUNS[prefix]} ID: expected ${prefix}_ followed by ${BODY_LENGTH} base32 characters (0-9, a-z without i, l, o, u)`,
    `IDs look like ${prefix}_01jd8x4k3m5n6p7q8r9s0t1v2w; copy one from the list command's output`,
  )
}
