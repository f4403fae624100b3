import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { authError } from './errors.js'

const VERSION = 1
const NONCE_BYTES = 12
const TAG_BYTES = 16

/**
 * AES-256-GCM under a 32-byte key. The sealed form is one buffer: version byte, nonce, tag, ciphertext.
 * `aad` binds the ciphertext to its record (a provider's id), so a sealed key cannot be moved to another row.
 */
export function seal(key: Buffer, plaintext: string, aad: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(aad))
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), ciphertext])
}

export function unseal(key: Buffer, sealed: Buffer, aad: string): string {
  try {
    if (sealed[0] !== VERSION) throw new Error(`unknown sealed format v${sealed[0]}`)
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES)
    const tag = sealed.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', key, nonce)
    decipher.setAAD(Buffer.from(aad))
    decipher.setAuthTag(tag)
    return Buffer.concat([
      decipher.update(sealed.subarray(1 + NONCE_BYTES + TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8')
  } catch {
    throw authError(
      'DECRYPT_FAILED',
      'A stored provider key could not be decrypted: the master key is not the one it was sealed with, or the row was altered',
      'Set IRON_MASTER_KEY to the original key, or re-enter the key with: iron providers update <name> --api-key-stdin',
    )
  }
}
