import type { ConfigKey, IronConfig } from '../config/config.js'
import { AuditRepo } from '../store/audit.js'
import type { LocalContext } from './context.js'
import { configureWebhook, removeWebhook, type WebhookSetup } from './webhooks.js'

/**
 * `iron config set|unset`: change the config file, and, when a store exists, record the change in its
 * audit trail (who changed which setting from what to what).
 */
export async function setConfigValue(
  config: IronConfig,
  key: ConfigKey,
  raw: string | undefined,
  /** The local store, when it can be opened (a broken config must still be fixable without it). */
  ctx: LocalContext | undefined,
): Promise<{
  value: string | number | undefined
  removed: boolean
  /** Setting or removing alerts.webhook_url: the signing secret (shown once when made), deliveries given up. */
  webhook?: WebhookSetup | { dropped: number }
}> {
  let before: { value: unknown; source: string } = { value: null, source: 'unreadable' }
  try {
    const entry = config.entry(key)
    before = { value: entry.value ?? null, source: entry.source }
  } catch {}
  let value: string | number | undefined
  let removed = false
  let webhook: WebhookSetup | { dropped: number } | undefined
  // The webhook's secret lives in the store: made (or kept) before the URL is written, so a URL is never
  // set without a way to sign; the URL is checked first, so nothing is made for a bad one.
  if (key === 'alerts.webhook_url' && raw !== undefined && ctx)
    webhook = configureWebhook(ctx, String(config.entry(key, raw).value))
  if (raw === undefined) removed = await config.unset(key)
  else value = await config.set(key, raw)
  if (key === 'alerts.webhook_url' && removed && ctx?.storeExists) webhook = removeWebhook(ctx)
  if (ctx?.storeExists && (raw !== undefined || removed)) {
    const db = ctx.db()
    const audit = new AuditRepo(db)
    db.transaction(() =>
      audit.append({
        actor: ctx.actor,
        action: raw === undefined ? 'config.unset' : 'config.set',
        resource_type: 'config',
        resource_id: key,
        outcome: 'success',
        data: { key, before, after: raw === undefined ? null : value, file: config.path },
      }),
    ).immediate()
  }
  return { value, removed, webhook }
}
