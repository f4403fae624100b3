import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { crc32 } from 'node:zlib'

/** Secret kinds of SPEC §2, each recognisable offline by its prefix and CRC32 checksum. */
export const SECRET_PREFIXES = { ic: 'iron_ic_', at: 'iron_at_', st: 'iron_st_', wh: 'iron_wh_' } as const
export type SecretKind = keyof typeof SECRET_PREFIXES

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const BODY_LENGTH = 32
const CHECKSUM_LENGTH = 6
const DISPLAY_PREFIX_LENGTH = 4

/** Uniform random base62: bytes of 248 and above are dropped (248 = 4 × 62), so no character is favoured. */
function randomBase62(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62]
      if (out.length === length) break
    }
  }
  return out
}

function checksum(text: string): string {
  let value = crc32(text)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}

/** A new secret: prefix + 32 random base62 characters (190 bits) + 6-character CRC32 checksum. */
export function newSecret(kind: SecretKind): string {
  const prefix = SECRET_PREFIXES[kind]
  const body = randomBase62(BODY_LENGTH)
  return `${prefix}${body}${checksum(prefix + body)}`
}

/** Whether text is well-formed for its kind and its checksum matches (a typo or a truncated paste fails). */
export function isWellFormedSecret(text: string, kind: SecretKind): boolean {
  const prefix = SECRET_PREFIXES[kind]
  if (!text.startsWith(prefix) || text.length !== prefix.length + BODY_LENGTH + CHECKSUM_LENGTH) return false
  const body = text.slice(prefix.length, prefix.length + BODY_LENGTH)
  if (!/^[0-9A-Za-z]+$/.test(body)) return false
  return checksum(prefix + body) === text.slice(prefix.length + BODY_LENGTH)
}

/** What is stored: the SHA-256 of the whole secret. */
export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex')

/** What listings show: the kind prefix and the first characters, e.g. `iron_ic_Ab3d`. */
export const displayPrefix = (secret: string): string => {
  const kind = Object.values(SECRET_PREFIXES).find((p) => secret.startsWith(p)) ?? ''
  return secret.slice(0, kind.length + DISPLAY_PREFIX_LENGTH)
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}

/** A provider key as people may see it: `sk-p…x9Qa`. Short keys show less. */
export function maskKey(key: string): string {
  const k = key.trim()
  if (k.length <= 8) return '…'
  const show = k.length >= 20 ? 4 : 2
  return `${k.slice(0, show)}…${k.slice(-show)}`
}
