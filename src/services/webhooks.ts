import { createHmac } from 'node:crypto'
import { IronConfig } from '../config/config.js'
import { seal, unseal } from '../core/crypto.js'
import { formatMoney } from '../core/money.js'
import { newSecret } from '../core/secrets.js'
import { AuditRepo } from '../store/audit.js'
import { groupCommitOf } from '../store/group-commit.js'
import { type AlertEventRow, type WebhookDeliveryRow, WebhooksRepo } from '../store/webhooks.js'
import type { LocalContext } from './context.js'

/**
 * Alert webhooks. An alert is an audit event (`budget.alert` when a budget crosses a threshold, `safety.block`
 * when the firewall blocks a request), written in the transaction of what caused it. A deliverer running
 * beside the gateway (and `iron serve`) reads the new ones from the audit trail each second, puts one
 * delivery per alert in the `webhook_deliveries` outbox (with the cursor, in one transaction), and POSTs
 * them: signed, with a timeout, retried with backoff. Nothing of this is on a request's path: a receiver that
 * fails or never answers slows only the deliverer.
 */

export const ALERT_ACTIONS = ['budget.alert', 'safety.block'] as const
export type AlertType = (typeof ALERT_ACTIONS)[number]

/** Replaces the store's signing secret (for receivers that were given one of their own). */
export const WEBHOOK_SECRET_ENV = 'IRON_WEBHOOK_SECRET'
const MIN_SECRET_LENGTH = 16
const SECRET_AAD = 'webhook_secret'

export const WEBHOOK_DEFAULTS = {
  intervalMs: 1_000,
  /** Waits between attempts: 1 s, 2 s, 4 s … (each with jitter), 8 attempts in all, then failed. */
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  maxAttempts: 8,
  timeoutMs: 5_000,
  concurrency: 8,
}
/** How long a claimed delivery is left alone beyond its timeout: after a crash, it comes due again then. */
const CLAIM_SLACK_MS = 30_000
/** An alert first seen this long after it happened is skipped (no deliverer ran meanwhile): news no more. */
const STALE_MS = 24 * 3_600_000
/** Finished deliveries are kept this long, for looking back. */
const KEEP_MS = 30 * 86_400_000
const EVENTS_PER_ROUND = 200

export interface WebhookPayload {
  /** The alert's audit event ID: the same on every attempt, so receivers can drop repeats. */
  id: string
  type: AlertType
  at: string
  agent: { id: string; name: string | null } | null
  data: Record<string, unknown>
  /** A one-line summary, Slack-compatible (mrkdwn, with &, < and > escaped). */
  text: string
}

/** `sha256=` and the hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

export function alertPayload(event: AlertEventRow): WebhookPayload {
  const data = JSON.parse(event.data) as Record<string, unknown>
  const type = event.action as AlertType
  const agent = event.agent_id === null ? null : { id: event.agent_id, name: event.agent_name }
  return {
    id: event.id,
    type,
    at: new Date(event.at).toISOString(),
    agent,
    data,
    text: alertText(type, agent?.name ?? agent?.id ?? 'an unknown agent', data),
  }
}

const slack = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
const money = (value: unknown) => (typeof value === 'number' ? formatMoney(value) : '?')

/** What happened, in a line a person reads in a chat channel. */
export function alertText(type: AlertType, agent: string, data: Record<string, unknown>): string {
  const who = `*${slack(agent)}*`
  if (type === 'safety.block') {
    const parts = (['input', 'output'] as const)
      .filter((d) => Array.isArray(data[d]) && (data[d] as unknown[]).length > 0)
      .map((d) => `${d}: ${(data[d] as string[]).join(', ')}`)
    const why = data.detector_error
      ? `a detector failed (${String(data.detector_error)}), so it failed closed`
      : parts.join('; ') || 'policy'
    const request = typeof data.request_id === 'string' ? ` ${slack(data.request_id)}` : ''
    return `iron: the firewall blocked a request of agent ${who} (${slack(why)})${request}`
  }
  const pct = Number(data.threshold_pct)
  const resets =
    typeof data.period_end === 'string'
      ? `resets ${data.period_end.slice(0, 10)}`
      : 'no period: until it is raised'
  if (pct >= 100) {
    return `iron: agent ${who} ${slack(`has used its ${money(data.limit_micros)} budget (${money(data.spent_micros)} spent): its requests are refused (${resets})`)}`
  }
  return `iron: agent ${who} ${slack(`is at ${pct}% of its ${money(data.limit_micros)} budget (${money(data.spent_micros)} spent; ${resets})`)}`
}

/** The secret deliveries are signed with: IRON_WEBHOOK_SECRET, else the store's (sealed under the master key). */
export function webhookSecret(ctx: LocalContext): { secret: string; source: 'env' | 'store' } | undefined {
  const fromEnv = ctx.env[WEBHOOK_SECRET_ENV]
  if (fromEnv) return { secret: fromEnv, source: 'env' }
  const sealed = new WebhooksRepo(ctx.db()).sealedSecret()
  if (sealed === undefined) return undefined
  return { secret: unseal(ctx.masterKey(), Buffer.from(sealed, 'base64'), SECRET_AAD), source: 'store' }
}

export interface WebhookSetup {
  /** The new signing secret, shown this once; null when one was kept or IRON_WEBHOOK_SECRET is used. */
  secret: string | null
  secret_source: 'created' | 'kept' | 'env'
  /** Pending deliveries to another URL, given up. */
  dropped: number
}

/**
 * `iron config set alerts.webhook_url`: make the signing secret if there is none (and no IRON_WEBHOOK_SECRET),
 * start alerts from now (not the history), and give up what was still pending for another URL. Opens (or
 * creates) the store, which keeps the secret.
 */
export function configureWebhook(ctx: LocalContext, url: string): WebhookSetup {
  const db = ctx.db()
  const repo = new WebhooksRepo(db)
  const fromEnv = Boolean(ctx.env[WEBHOOK_SECRET_ENV])
  const key = fromEnv ? undefined : ctx.masterKey()
  return db
    .transaction((): WebhookSetup => {
      let secret: string | null = null
      let source: WebhookSetup['secret_source'] = fromEnv ? 'env' : 'kept'
      if (!fromEnv && repo.sealedSecret() === undefined) {
        secret = newSecret('wh')
        repo.setSealedSecret(seal(key!, secret, SECRET_AAD).toString('base64'))
        source = 'created'
        record(ctx, db, 'webhook.secret_create', { url })
      }
      repo.setCursor(repo.head())
      const dropped = repo.dropPending(url, 'the webhook URL changed')
      return { secret, secret_source: source, dropped }
    })
    .immediate()
}

/** `iron config unset alerts.webhook_url`: webhooks off; the secret is forgotten, what was pending given up. */
export function removeWebhook(ctx: LocalContext): { dropped: number } {
  const db = ctx.db()
  const repo = new WebhooksRepo(db)
  return db
    .transaction(() => {
      const had = repo.sealedSecret() !== undefined
      repo.forget()
      const dropped = repo.dropPending(null, 'alert webhooks were turned off')
      if (had) record(ctx, db, 'webhook.secret_delete', { dropped })
      return { dropped }
    })
    .immediate()
}

function record(ctx: LocalContext, db: ReturnType<LocalContext['db']>, action: string, data: object): void {
  new AuditRepo(db).append({
    actor: ctx.actor,
    action,
    resource_type: 'config',
    resource_id: 'alerts.webhook_url',
    outcome: 'success',
    at: ctx.now(),
    data: { ...data },
  })
}

export interface WebhookDelivererOptions {
  intervalMs?: number
  baseDelayMs?: number
  maxDelayMs?: number
  maxAttempts?: number
  timeoutMs?: number
  concurrency?: number
  /** The URL to deliver to now; default: `alerts.webhook_url`, read from the config again each round. */
  url?: () => Promise<string | undefined> | string | undefined
  /** Where problems are said (once each): the gateway's stderr. */
  warn?: (message: string) => void
  random?: () => number
}

type Outcome = { ok: true } | { ok: false; error: string; aborted: boolean }

/**
 * Deliver alerts while the process runs (`iron gateway start`, `iron serve`). Returns `stop`, which cuts
 * attempts in flight short (they come due again, uncounted), puts the alerts recorded meanwhile in the
 * outbox, and resolves when its writes are done. Call it before the store is closed.
 */
export function startWebhookDeliverer(
  ctx: LocalContext,
  options: WebhookDelivererOptions = {},
): () => Promise<void> {
  const o = { ...WEBHOOK_DEFAULTS, ...options }
  const random = options.random ?? Math.random
  const db = ctx.db()
  const repo = new WebhooksRepo(db)
  const writer = groupCommitOf(db)
  const warned = new Set<string>()
  const warn = (message: string) => {
    if (warned.has(message)) return
    warned.add(message)
    options.warn?.(message)
  }
  const currentUrl = options.url ?? (() => configuredUrl(ctx, warn))
  const inFlight = new Set<AbortController>()
  const attempts = new Set<Promise<void>>()
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let round: Promise<void> = Promise.resolve()

  const enqueue = (url: string) =>
    writer.run(() => {
      const head = repo.head()
      const cursor = repo.cursor()
      // The first look (or a store restored from an older copy) starts from now, not from the history.
      if (cursor === undefined || cursor > head) return repo.setCursor(head)
      if (cursor === head) return
      const events = repo.alertEvents(ALERT_ACTIONS, cursor, head, EVENTS_PER_ROUND)
      const now = ctx.now()
      for (const event of events) {
        if (event.at < now - STALE_MS) continue
        repo.enqueue({ event_id: event.id, url, payload: JSON.stringify(alertPayload(event)), at: now })
      }
      repo.setCursor(events.length === EVENTS_PER_ROUND ? events.at(-1)!.seq : head)
    })

  const attempt = async (row: WebhookDeliveryRow, secret: string) => {
    const controller = new AbortController()
    if (stopped) controller.abort()
    inFlight.add(controller)
    const outcome = await post(row, secret, controller.signal, o.timeoutMs)
    inFlight.delete(controller)
    const now = ctx.now()
    const made = row.attempts + 1
    await writer.run(() => {
      if (outcome.ok) return repo.delivered(row.id, made, now)
      if (outcome.aborted) return repo.release(row.id, now)
      const last = made >= o.maxAttempts
      repo.attemptFailed(row.id, made, outcome.error, last ? null : now + backoff(made))
    })
  }

  // Equal jitter: half the exponential step for sure, the other half at random, so retries spread out.
  const backoff = (attempts: number) => {
    const step = Math.min(o.baseDelayMs * 2 ** (attempts - 1), o.maxDelayMs)
    return Math.round(step / 2 + random() * (step / 2))
  }

  const tick = async () => {
    try {
      const url = await currentUrl()
      if (url) {
        await enqueue(url)
        const secret = signingSecret(ctx, warn)
        const room = o.concurrency - attempts.size
        if (secret && room > 0 && !stopped) {
          const now = ctx.now()
          const due = await writer.run(() => repo.claim(url, now, now + o.timeoutMs + CLAIM_SLACK_MS, room))
          // Attempts run on their own: a receiver that never answers holds one slot, not the rounds.
          for (const row of due) {
            const running: Promise<void> = attempt(row, secret)
              .catch((error: unknown) => warn(`Alert webhooks: ${(error as Error).message}`))
              .finally(() => attempts.delete(running))
            attempts.add(running)
          }
        }
      }
    } catch (error) {
      warn(`Alert webhooks: ${(error as Error).message}`)
    }
    if (stopped) return
    timer = setTimeout(() => {
      round = tick()
    }, o.intervalMs)
    timer.unref()
  }

  void writer.run(() => repo.prune(ctx.now() - KEEP_MS)).catch(() => {})
  round = tick()

  return async () => {
    stopped = true
    clearTimeout(timer)
    await round
    for (const controller of inFlight) controller.abort()
    await Promise.all(attempts)
    const url = await currentUrl()
    if (url) await enqueue(url).catch(() => {})
  }
}

async function configuredUrl(ctx: LocalContext, warn: (m: string) => void): Promise<string | undefined> {
  try {
    const config = await IronConfig.load(ctx.config.dirs, ctx.env)
    const url = config.get('alerts.webhook_url')
    return url === undefined ? undefined : String(url)
  } catch (error) {
    warn(`Alert webhooks are paused: ${(error as Error).message}`)
    return undefined
  }
}

function signingSecret(ctx: LocalContext, warn: (m: string) => void): string | undefined {
  const found = webhookSecret(ctx)
  if (!found) {
    warn(
      `alerts.webhook_url is set but there is no signing secret: run iron config set alerts.webhook_url <url> once (it makes one), or set ${WEBHOOK_SECRET_ENV}; alerts wait until then`,
    )
    return undefined
  }
  if (found.secret.length < MIN_SECRET_LENGTH) {
    warn(
      `${WEBHOOK_SECRET_ENV} is shorter than ${MIN_SECRET_LENGTH} characters; alerts wait until it is longer`,
    )
    return undefined
  }
  return found.secret
}

/** One attempt: 2xx delivers; anything else (a redirect too: none is followed) is a failure to retry. */
async function post(
  row: WebhookDeliveryRow,
  secret: string,
  stop: AbortSignal,
  timeoutMs: number,
): Promise<Outcome> {
  const timestamp = Math.floor(Date.now() / 1000)
  try {
    const response = await fetch(row.url, {
      method: 'POST',
      body: row.payload,
      redirect: 'manual',
      signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'iron-webhooks/1',
        'x-iron-event': (JSON.parse(row.payload) as WebhookPayload).type,
        'x-iron-delivery': String(row.id),
        'x-iron-timestamp': String(timestamp),
        'x-iron-signature': signWebhook(secret, timestamp, row.payload),
      },
    })
    await response.body?.cancel().catch(() => {})
    if (response.status >= 200 && response.status < 300) return { ok: true }
    const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : ''
    return { ok: false, error: `HTTP ${response.status}${redirect}`, aborted: false }
  } catch (error) {
    if (stop.aborted) return { ok: false, error: 'stopped', aborted: true }
    const e = error as Error & { cause?: { code?: string; message?: string } }
    const reason =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000}s`
        : (e.cause?.code ?? e.cause?.message ?? e.message)
    return { ok: false, error: reason, aborted: false }
  }
}
