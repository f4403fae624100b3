import type { ConfigKey, IronConfig } from '../config/config.js'
import { AuditRepo } from '../store/audit.js'
import type { LocalContext } from './context.js'

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
): Promise<{ value: string | number | undefined; removed: boolean }> {
  let before: { value: unknown; source: string } = { value: null, source: 'unreadable' }
  try {
    const entry = config.entry(key)
    before = { value: entry.value ?? null, source: entry.source }
  } catch {}
  let value: string | number | undefined
  let removed = false
  if (raw === undefined) removed = await config.unset(key)
  else value = await config.set(key, raw)
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
  return { value, removed }
}
