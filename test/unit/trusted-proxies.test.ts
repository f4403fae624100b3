import { describe, expect, it } from 'vitest'
import { clientAddressOf, normalizeAddress, TrustedProxies } from '../../src/core/trusted-proxies.js'

const trusted = (text: string) => TrustedProxies.parse(text)

describe('TrustedProxies', () => {
  it('takes addresses and CIDR ranges, IPv4 and IPv6, and matches what they cover', () => {
    const t = trusted(' 10.0.0.0/8 , 192.168.1.7, fd00::/8,::1 ')
    expect(t.toString()).toBe('10.0.0.0/8, 192.168.1.7, fd00::/8, ::1')
    expect(t.has('10.200.3.4')).toBe(true)
    expect(t.has('11.0.0.1')).toBe(false)
    expect(t.has('192.168.1.7')).toBe(true)
    expect(t.has('192.168.1.8')).toBe(false)
    expect(t.has('fd12::5')).toBe(true)
    expect(t.has('fe80::1')).toBe(false)
    expect(t.has('::1')).toBe(true)
    expect(trusted('0.0.0.0/0').has('203.0.113.9')).toBe(true)
    expect(trusted('::ffff:127.0.0.1').toString()).toBe('127.0.0.1')
  })

  it('refuses a bad entry and names it', () => {
    for (const [text, named] of [
      ['nonsense', "'nonsense'"],
      ['10.0.0.1, example.com', "'example.com'"],
      ['10.0.0.0/33', "'10.0.0.0/33'"],
      ['fd00::/129', "'fd00::/129'"],
      ['10.0.0.0/', "'10.0.0.0/'"],
      ['10.0.0.0/8x', "'10.0.0.0/8x'"],
      ['256.1.1.1', "'256.1.1.1'"],
      ['[::1]', "'[::1]'"],
    ] as const)
      expect(() => trusted(text), text).toThrow(named)
    expect(() => trusted(' , ')).toThrow('at least one')
  })
})

describe('clientAddressOf', () => {
  const proxies = trusted('127.0.0.1, 10.0.0.0/8, fd00::/8')

  it('is the peer when nothing is trusted, or the peer is not trusted: a client cannot choose its address', () => {
    expect(clientAddressOf('203.0.113.5', '1.2.3.4', undefined)).toBe('203.0.113.5')
    expect(clientAddressOf('203.0.113.5', '1.2.3.4', proxies)).toBe('203.0.113.5')
    expect(clientAddressOf('::ffff:203.0.113.5', '1.2.3.4', proxies)).toBe('203.0.113.5')
    expect(clientAddressOf(undefined, '1.2.3.4', proxies)).toBe('unknown')
  })

  it('from a trusted peer, is the first untrusted address of X-Forwarded-For from the right', () => {
    expect(clientAddressOf('127.0.0.1', '198.51.100.7', proxies)).toBe('198.51.100.7')
    expect(clientAddressOf('::ffff:127.0.0.1', '198.51.100.7', proxies)).toBe('198.51.100.7')
    // The leftmost entries are whatever the client sent: only the hop the trusted proxy saw counts.
    expect(clientAddressOf('127.0.0.1', '1.2.3.4, 5.6.7.8', proxies)).toBe('5.6.7.8')
    expect(clientAddressOf('127.0.0.1', '1.2.3.4, 5.6.7.8, 10.1.1.1,fd00::2', proxies)).toBe('5.6.7.8')
    expect(clientAddressOf('fd00::1', '2001:db8::1', proxies)).toBe('2001:db8::1')
    expect(clientAddressOf('127.0.0.1', '[2001:DB8::1]', proxies)).toBe('2001:db8::1')
    expect(clientAddressOf('127.0.0.1', ['1.2.3.4', '5.6.7.8'], proxies)).toBe('5.6.7.8')
    // Every hop trusted: the farthest one.
    expect(clientAddressOf('127.0.0.1', '10.0.0.9, 10.0.0.8', proxies)).toBe('10.0.0.9')
    expect(clientAddressOf('127.0.0.1', undefined, proxies)).toBe('127.0.0.1')
    expect(clientAddressOf('127.0.0.1', '  ', proxies)).toBe('127.0.0.1')
  })

  it('never believes a malformed entry or an oversized header: the last trusted hop counts', () => {
    expect(clientAddressOf('127.0.0.1', 'not-an-ip', proxies)).toBe('127.0.0.1')
    expect(clientAddressOf('127.0.0.1', '1.2.3.4:5678', proxies)).toBe('127.0.0.1')
    expect(clientAddressOf('127.0.0.1', '5.6.7.8, ', proxies)).toBe('127.0.0.1')
    expect(clientAddressOf('127.0.0.1', '5.6.7.8, garbage, 10.0.0.3', proxies)).toBe('10.0.0.3')
    // A bad entry left of the first untrusted one is never reached.
    expect(clientAddressOf('127.0.0.1', 'garbage, 5.6.7.8', proxies)).toBe('5.6.7.8')
    const hops = Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`).join(',')
    expect(clientAddressOf('127.0.0.1', hops, proxies)).toBe('127.0.0.1')
    expect(clientAddressOf('127.0.0.1', `${' '.repeat(2048)}5.6.7.8`, proxies)).toBe('127.0.0.1')
  })

  it('normalizes addresses as they are recorded', () => {
    expect(normalizeAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1')
    expect(normalizeAddress(' 2001:DB8::1 ')).toBe('2001:db8::1')
    expect(normalizeAddress('localhost')).toBeUndefined()
  })
})
