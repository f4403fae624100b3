import { seal, unseal } from '../../core/crypto.js'
import { IronError, usageError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import { maskKey } from '../../core/secrets.js'
import type { AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import type { ProviderRow, ProvidersRepo } from '../../store/providers.js'
import type {
  Provider,
  ProviderInput,
  ProviderKind,
  ProvidersApi,
  ProviderTestResult,
  ProviderUpdate,
} from '../api.js'
import { authorize } from '../authz.js'
import { checkName } from './agents.js'
import { changes, type LocalAudit } from './audit.js'
import { findProvider, iso } from './refs.js'

export const PROVIDER_KINDS: readonly ProviderKind[] = ['openai', 'anthropic', 'openai-compatible', 'mock']

/** Base URLs as the official SDKs take them: OpenAI's includes /v1, Anthropic's does not. */
export const DEFAULT_BASE_URLS: Partial<Record<ProviderKind, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
}

const TEST_TIMEOUT_MS = 10_000

export function checkKind(kind: string): ProviderKind {
  if ((PROVIDER_KINDS as readonly string[]).includes(kind)) return kind as ProviderKind
  throw usageError(
    'INVALID_PROVIDER_KIND',
    `Unknown provider kind '${kind}'`,
    `Use one of: ${PROVIDER_KINDS.join(', ')}`,
  )
}

export function checkBaseUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw usageError('INVALID_URL', `'${value}' is not a URL`, 'For example https://api.example.com/v1')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError('INVALID_URL', `'${value}' must start with http:// or https://`)
  }
  if (url.username || url.password) {
    throw usageError(
      'INVALID_URL',
      'The base URL carries credentials, which would be stored in plain text',
      'Pass the key with --api-key-stdin or --api-key-env instead',
    )
  }
  return url.toString().replace(/\/+$/, '')
}

function checkKey(value: string): string {
  const key = value.trim()
  if (key.length < 8 || key.length > 1_000 || /\s/.test(key)) {
    throw usageError(
      'INVALID_API_KEY',
      'That does not look like an API key (8 to 1000 characters, no spaces)',
      'Check what was pasted or piped in',
    )
  }
  return key
}

/** Provider credentials. Keys are sealed with AES-256-GCM under the master key and only ever shown masked. */
export class LocalProviders implements ProvidersApi {
  constructor(
    private readonly db: Db,
    private readonly repo: ProvidersRepo,
    private readonly agents: AgentsRepo,
    private readonly audit: LocalAudit,
    private readonly masterKey: () => Buffer,
    private readonly now: () => number,
    /** Models the built-in mock provider answers for. */
    private readonly mockModels: () => string[],
  ) {}

  async add(input: ProviderInput): Promise<Provider> {
    authorize('providers.add')
    const name = checkName(input.name, 'provider', 'prov_')
    const kind = checkKind(input.kind)
    const baseUrl = this.#baseUrl(kind, input.base_url)
    const key = input.api_key === undefined || input.api_key === null ? null : checkKey(input.api_key)
    if ((kind === 'openai' || kind === 'anthropic') && key === null) {
      throw usageError(
        'API_KEY_REQUIRED',
        `A ${kind} provider needs an API key`,
        'Pass it with --api-key-stdin or --api-key-env NAME, or type it at the prompt',
      )
    }
    if (kind === 'mock' && key !== null)
      throw usageError('API_KEY_NOT_USED', 'The mock provider takes no API key')
    const sealKey = key === null ? undefined : this.masterKey()
    return this.#tx(() => {
      if (this.repo.byName(name)) {
        throw new IronError('NAME_TAKEN', `A provider named '${name}' already exists`, {
          hint: `Change it with: iron providers update ${name}`,
        })
      }
      const now = this.now()
      const id = newId('prov', now)
      const row: ProviderRow = {
        id,
        name,
        kind,
        base_url: baseUrl,
        sealed_key: key === null ? null : seal(sealKey!, key, id),
        key_mask: key === null ? null : maskKey(key),
        description: input.description?.trim().slice(0, 500) ?? '',
        created_at: now,
        updated_at: now,
        removed_at: null,
        last_test_at: null,
        last_test_ok: null,
        last_test_note: null,
      }
      this.repo.insert(row)
      const provider = view(row)
      this.audit.record({
        action: 'provider.add',
        resource_type: 'provider',
        resource_id: id,
        outcome: 'success',
        data: { after: provider },
      })
      return provider
    })
  }

  async list(): Promise<Provider[]> {
    authorize('providers.list')
    return this.repo.list().map(view)
  }

  async get(ref: string): Promise<Provider> {
    authorize('providers.get')
    return view(findProvider(this.repo, ref))
  }

  async update(ref: string, update: ProviderUpdate): Promise<Provider> {
    authorize('providers.update')
    const key = update.api_key === undefined ? undefined : checkKey(update.api_key)
    const sealKey = key === undefined ? undefined : this.masterKey()
    return this.#tx(() => {
      const row = findProvider(this.repo, ref)
      if (row.kind === 'mock' && key !== undefined)
        throw usageError('API_KEY_NOT_USED', 'The mock provider takes no API key')
      const next: ProviderRow = {
        ...row,
        base_url: update.base_url === undefined ? row.base_url : this.#baseUrl(row.kind, update.base_url),
        sealed_key: key === undefined ? row.sealed_key : seal(sealKey!, key, row.id),
        key_mask: key === undefined ? row.key_mask : maskKey(key),
        description:
          update.description === undefined ? row.description : update.description.trim().slice(0, 500),
        updated_at: this.now(),
      }
      this.repo.update(next)
      const after = view(next)
      this.audit.record({
        action: 'provider.update',
        resource_type: 'provider',
        resource_id: row.id,
        outcome: 'success',
        // The key itself never: whether it changed, and its new mask.
        data: { changes: changes(view(row), after), key_changed: key !== undefined },
      })
      return after
    })
  }

  async remove(ref: string): Promise<Provider> {
    authorize('providers.remove')
    return this.#tx(() => {
      const row = findProvider(this.repo, ref)
      const users = this.agents.usingProvider(row.name)
      if (users.length > 0) {
        throw new IronError(
          'PROVIDER_IN_USE',
          `Provider ${row.name} is allowed for ${users.length} agent(s): ${users.map((a) => a.name).join(', ')}`,
          {
            hint: 'Change those agents first (iron agents update <agent> --provider <other>), then remove it',
          },
        )
      }
      const next: ProviderRow = { ...row, removed_at: this.now(), sealed_key: null, updated_at: this.now() }
      this.repo.update(next)
      this.audit.record({
        action: 'provider.remove',
        resource_type: 'provider',
        resource_id: row.id,
        outcome: 'success',
        data: { before: view(row) },
      })
      return view(next)
    })
  }

  /** One cheap real call (list models); reports status and latency, and remembers the outcome. */
  async test(ref: string): Promise<ProviderTestResult> {
    authorize('providers.test')
    const row = findProvider(this.repo, ref)
    const result = row.kind === 'mock' ? this.#testMock(row) : await this.#testRemote(row)
    const now = this.now()
    this.repo.update({
      ...findProvider(this.repo, row.id),
      last_test_at: now,
      last_test_ok: result.ok ? 1 : 0,
      last_test_note: result.note,
    })
    return result
  }

  /** The decrypted key, for the gateway only; never logged, never returned by any API. */
  apiKey(row: ProviderRow): string | null {
    return row.sealed_key === null ? null : unseal(this.masterKey(), row.sealed_key, row.id)
  }

  #testMock(row: ProviderRow): ProviderTestResult {
    const models = this.mockModels()
    return {
      provider: row.name,
      ok: true,
      status: 200,
      latency_ms: 0,
      models: models.length,
      note: 'built-in mock provider: answers any model in-process',
    }
  }

  async #testRemote(row: ProviderRow): Promise<ProviderTestResult> {
    const { request } = await import('undici')
    const key = this.apiKey(row)
    const base = row.base_url ?? DEFAULT_BASE_URLS[row.kind]!
    const url = row.kind === 'anthropic' ? `${base}/v1/models` : `${base}/models`
    const headers: Record<string, string> =
      row.kind === 'anthropic'
        ? { 'anthropic-version': '2023-06-01', ...(key ? { 'x-api-key': key } : {}) }
        : key
          ? { authorization: `Bearer ${key}` }
          : {}
    const started = performance.now()
    try {
      const response = await request(url, {
        method: 'GET',
        headers,
        headersTimeout: TEST_TIMEOUT_MS,
        bodyTimeout: TEST_TIMEOUT_MS,
      })
      const text = await response.body.text()
      const latency = Math.round((performance.now() - started) * 10) / 10
      const ok = response.statusCode >= 200 && response.statusCode < 300
      let models: number | null = null
      try {
        const data = (JSON.parse(text) as { data?: unknown[] }).data
        models = Array.isArray(data) ? data.length : null
      } catch {}
      const note = ok
        ? `listed ${models ?? 'an unknown number of'} models`
        : response.statusCode === 401 || response.statusCode === 403
          ? `HTTP ${response.statusCode}: the provider refused the key`
          : `HTTP ${response.statusCode}`
      return { provider: row.name, ok, status: response.statusCode, latency_ms: latency, models, note }
    } catch (error) {
      const code = (error as { code?: string }).code
      const latency = Math.round((performance.now() - started) * 10) / 10
      return {
        provider: row.name,
        ok: false,
        status: null,
        latency_ms: latency,
        models: null,
        note: `${code ?? 'error'}: ${(error as Error).message} (${url})`,
      }
    }
  }

  #baseUrl(kind: ProviderKind, value: string | null | undefined): string | null {
    if (value === undefined || value === null || value === '') {
      if (kind === 'openai-compatible') {
        throw usageError(
          'BASE_URL_REQUIRED',
          'An openai-compatible provider needs --base-url',
          'For example --base-url http://127.0.0.1:11434/v1',
        )
      }
      return null
    }
    if (kind === 'mock') throw usageError('BASE_URL_NOT_USED', 'The mock provider takes no base URL')
    return checkBaseUrl(value)
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }
}

function view(row: ProviderRow): Provider {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    base_url: row.base_url ?? DEFAULT_BASE_URLS[row.kind] ?? null,
    key_mask: row.key_mask,
    description: row.description,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    last_test:
      row.last_test_at === null
        ? null
        : { at: iso(row.last_test_at)!, ok: row.last_test_ok === 1, note: row.last_test_note ?? '' },
  }
}
