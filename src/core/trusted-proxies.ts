import { BlockList, isIP, isIPv4 } from 'node:net'

/** The longest X-Forwarded-For iron reads, and the most hops in it; past either, only the peer counts. */
export const MAX_FORWARDED_FOR_LENGTH = 2048
export const MAX_FORWARDED_HOPS = 20

/**
 * An address as iron compares and records it: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports) as its IPv4 form, IPv6 in brackets without them; undefined if it is no address.
 */
export function normalizeAddress(text: string): string | undefined {
  let address = text.trim()
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]
  return isIP(address) === 0 ? undefined : address.toLowerCase()
}

/**
 * The proxies whose X-Forwarded-For `iron serve` believes (config serve.trusted_proxies): IP addresses and
 * CIDR ranges, IPv4 and IPv6, comma-separated.
 */
export class TrustedProxies {
  readonly #list = new BlockList()

  private constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const [address, prefix] = entry.split('/') as [string, string | undefined]
      const family = isIPv4(address) ? 'ipv4' : 'ipv6'
      if (prefix === undefined) this.#list.addAddress(address, family)
      else this.#list.addSubnet(address, Number(prefix), family)
    }
  }

  /** Parse a comma-separated list; throws an Error naming the first bad entry. */
  static parse(text: string): TrustedProxies {
    const entries = text.split(',').map((e) => e.trim())
    if (entries.every((e) => e === '')) throw new Error('must list at least one IP address or CIDR range')
    return new TrustedProxies(entries.filter((e) => e !== '').map(parseEntry))
  }

  /** Whether an address (as normalizeAddress gives it) is one of these proxies. */
  has(address: string): boolean {
    return this.#list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6')
  }

  toString(): string {
    return this.entries.join(', ')
  }
}

function parseEntry(entry: string): string {
  const bad = (why: string) =>
    new Error(
      `'${entry}' is not ${why} (give IP addresses or CIDR ranges, such as 10.0.0.5, 10.0.0.0/8, fd00::/8)`,
    )
  const slash = entry.indexOf('/')
  const address = normalizeAddress(slash === -1 ? entry : entry.slice(0, slash))
  if (address === undefined || entry.startsWith('[')) throw bad('an IP address')
  if (slash === -1) return address
  const prefixText = entry.slice(slash + 1)
  const max = isIPv4(address) ? 32 : 128
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max)
    throw bad(`a CIDR range: the prefix length must be a whole number from 0 to ${max}`)
  return `${address}/${Number(prefixText)}`
}

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy. Then X-Forwarded-For is walked
 * from the right, past trusted proxies, and the first address that is not one is the client. A malformed
 * entry, or a header past 2 KiB or 20 hops, is never believed: the answer is then the last trusted hop
 * (the peer itself when the header is unusable as a whole). An untrusted peer's header is ignored, so that
 * a client cannot choose its own address.
 */
export function clientAddressOf(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies | undefined,
): string {
  const peerAddress = peer === undefined ? undefined : normalizeAddress(peer)
  if (peerAddress === undefined) return peer || 'unknown'
  if (!trusted?.has(peerAddress) || forwardedFor === undefined) return peerAddress
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor
  if (header.trim() === '' || header.length > MAX_FORWARDED_FOR_LENGTH) return peerAddress
  const hops = header.split(',')
  if (hops.length > MAX_FORWARDED_HOPS) return peerAddress
  let last = peerAddress
  for (let i = hops.length - 1; i >= 0; i--) {
    const address = normalizeAddress(hops[i]!)
    if (address === undefined) return last
    if (!trusted.has(address)) return address
    last = address
  }
  return last
}
