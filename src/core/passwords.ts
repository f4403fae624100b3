import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto'
import { usageError } from './errors.js'

/**
 * Passwords of `iron serve`'s users: scrypt (node:crypto) with a 16-byte salt of its own per password, stored
 * as `scrypt$N$r$p$salt$hash` (base64), so the cost can be raised later and old hashes still verify (and are
 * rehashed at the next login). N = 2^15, r = 8 (32 MiB, about 0.1 s on a server core).
 */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 32
export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 1024

function derive(password: string, salt: Buffer, keyLength: number, params: ScryptOptions): Promise<Buffer> {
  const maxmem = 256 * (params.N ?? 0) * (params.r ?? 0) + 16 * 1024 * 1024
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyLength, { ...params, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  )
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, KEY_BYTES, SCRYPT_PARAMS)
  const { N, r, p } = SCRYPT_PARAMS
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`
}

interface Parsed {
  N: number
  r: number
  p: number
  salt: Buffer
  key: Buffer
}

function parse(stored: string): Parsed | undefined {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const salt = Buffer.from(parts[4]!, 'base64')
  const key = Buffer.from(parts[5]!, 'base64')
  // Bounds keep a tampered row from asking for gigabytes of memory.
  const powerOfTwo = Number.isSafeInteger(N) && N >= 2 ** 10 && N <= 2 ** 20 && (N & (N - 1)) === 0
  if (!powerOfTwo || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return undefined
  if (salt.length < 8 || key.length < 16 || key.length > 64) return undefined
  return { N, r, p, salt, key }
}

/** Whether `password` is the one `stored` was made from; compared in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored)
  if (!parsed) return false
  const key = await derive(password, parsed.salt, parsed.key.length, parsed)
  return timingSafeEqual(key, parsed.key)
}

/** Whether a stored hash was made with other parameters than today's (rehash it at the next login). */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored)
  return (
    !parsed ||
    parsed.N !== SCRYPT_PARAMS.N ||
    parsed.r !== SCRYPT_PARAMS.r ||
    parsed.p !== SCRYPT_PARAMS.p ||
    parsed.key.length !== KEY_BYTES
  )
}

let dummy: Promise<string> | undefined
/**
 * A hash of a random password, verified against when the user does not exist, so a login for an unknown
 * name takes as long as one with a wrong password (no user enumeration by timing).
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(18).toString('base64'))
  return dummy
}

/** The password rules: at least 12 characters, at most 1024, and not the user's name. */
export function checkPassword(password: unknown, userName: string): string {
  if (typeof password !== 'string') throw usageError('INVALID_PASSWORD', 'The password must be text')
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH) {
    throw usageError(
      'PASSWORD_TOO_SHORT',
      `The password is ${length} character${length === 1 ? '' : 's'} long; it needs at least ${MIN_PASSWORD_LENGTH}`,
      'A few unrelated words make a long password that is easy to type',
    )
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw usageError('PASSWORD_TOO_LONG', `The password is longer than ${MAX_PASSWORD_LENGTH} characters`)
  }
  if (password.trim().toLowerCase() === userName.trim().toLowerCase()) {
    throw usageError(
      'PASSWORD_IS_NAME',
      "The password must not be the user's name",
      'Choose another password',
    )
  }
  return password
}
