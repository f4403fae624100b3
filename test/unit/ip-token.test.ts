import { describe, expect, it } from 'vitest'
import { openIpToken, sealIpToken } from '../../src/core/ip-token.js'
import { newSecret } from '../../src/core/secrets.js'

describe('ip_token: provider keys wrapped for one lease under the IC token', () => {
  const ic = newSecret('ic')
  const key = 'sk-live-0123456789abcdefghijklmnop'

  it('opens with the same IC token, lease and provider, and holds no trace of the key', () => {
    const wrapped = sealIpToken(ic, 'lease_a', 'prov_x', key)
    expect(wrapped).not.toContain('sk-live')
    expect(Buffer.from(wrapped, 'base64url').toString('latin1')).not.toContain('0123456789abcdef')
    expect(openIpToken(ic, 'lease_a', 'prov_x', wrapped)).toBe(key)
  })

  it('is useless with another IC token, another lease, another provider, or altered bytes', () => {
    const wrapped = sealIpToken(ic, 'lease_a', 'prov_x', key)
    const code = (fn: () => unknown) => {
      try {
        fn()
        return 'opened'
      } catch (error) {
        return (error as { code?: string }).code
      }
    }
    expect(code(() => openIpToken(newSecret('ic'), 'lease_a', 'prov_x', wrapped))).toBe('IP_TOKEN_INVALID')
    expect(code(() => openIpToken(ic, 'lease_b', 'prov_x', wrapped))).toBe('IP_TOKEN_INVALID')
    expect(code(() => openIpToken(ic, 'lease_a', 'prov_y', wrapped))).toBe('IP_TOKEN_INVALID')
    const bytes = Buffer.from(wrapped, 'base64url')
    bytes[bytes.length - 1] ^= 1
    expect(code(() => openIpToken(ic, 'lease_a', 'prov_x', bytes.toString('base64url')))).toBe(
      'IP_TOKEN_INVALID',
    )
  })

  it('wraps the same key differently each time (fresh nonce)', () => {
    expect(sealIpToken(ic, 'lease_a', 'prov_x', key)).not.toBe(sealIpToken(ic, 'lease_a', 'prov_x', key))
  })
})
