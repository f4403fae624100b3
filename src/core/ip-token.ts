import { hkdfSync } from 'node:crypto'
import { seal, unseal } from './crypto.js'
import { authError } from './errors.js'

const INFO = 'iron ip_token v1'

/**
 * The key that wraps provider keys for one lease (SPEC §6): HKDF-SHA256 of the IC token, salted with the
 * lease id. The server knows the token only while a request carries it; without the token an ip_token is
 * useless, and a key wrapped for one lease cannot be unwrapped under another.
 */
function leaseKey(icToken: string, leaseId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(icToken), Buffer.from(leaseId), INFO, 32))
}

/** A provider key wrapped for a lease (AES-256-GCM, bound to the provider's id), as base64url text. */
export function sealIpToken(icToken: string, leaseId: string, providerId: string, apiKey: string): string {
  return seal(leaseKey(icToken, leaseId), apiKey, providerId).toString('base64url')
}

/** The provider key of an ip_token; a clear error when the token, lease or provider does not match. */
export function openIpToken(icToken: string, leaseId: string, providerId: string, ipToken: string): string {
  try {
    return unseal(leaseKey(icToken, leaseId), Buffer.from(ipToken, 'base64url'), providerId)
  } catch {
    throw authError(
      'IP_TOKEN_INVALID',
      `The server's wrapped key for provider ${providerId} does not open with this IC token and lease ${leaseId}`,
      'Restart the gateway so that it shakes hands with the server again',
    )
  }
}
