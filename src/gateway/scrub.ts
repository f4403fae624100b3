import { type Category, redactSpans, SECRET_CATEGORIES } from '../safety/index.js'
import { scanDetailed } from '../safety/scan.js'

const SECRETS: ReadonlySet<Category> = new Set(SECRET_CATEGORIES)
const KEY_LABEL = '[REDACTED:PROVIDER_KEY]'

/**
 * What an upstream sent back on failure, safe to relay to the agent: the provider key itself (some proxies
 * and self-hosted servers echo the Authorization header in a 401) and anything the secret detectors find,
 * whatever the agent's policy says. Undefined when a detector failed: the caller relays none of it.
 */
export function scrubUpstreamText(text: string, keys: ReadonlyArray<string | null>): string | undefined {
  let out = text
  for (const key of keys)
    if (key && key.length >= 8 && out.includes(key)) out = out.split(key).join(KEY_LABEL)
  const { findings, failures } = scanDetailed(out, { categories: SECRETS })
  if (failures.length > 0) return undefined
  return redactSpans(
    out,
    findings.filter((f) => SECRETS.has(f.category)),
  )
}

const SAFE_ID = /^[\w.:-]{1,128}$/
const SAFE_TYPE = /^[\w.+-]{1,64}\/[\w.+-]{1,64}(\s*;\s*charset=[\w-]{1,32})?$/i

/** An upstream's request id, when it looks like one (it is relayed as a header). */
export function safeRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && SAFE_ID.test(value) ? value : undefined
}

/** An upstream's content type, when it is a plain media type (anything else is not relayed). */
export function safeContentType(value: unknown, fallback: string): string {
  return typeof value === 'string' && SAFE_TYPE.test(value.trim()) ? value.trim() : fallback
}
