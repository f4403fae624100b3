import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import type { IronConfig } from '../config/config.js'
import { verifyMasterKey } from '../config/master-key.js'
import { IronError } from '../core/errors.js'
import { BUNDLED_PRICES } from '../pricing/catalog.js'
import { PriceTable } from '../pricing/lookup.js'
import { AgentsRepo } from '../store/agents.js'
import { type Db, LATEST_SCHEMA_VERSION, openDb, schemaVersion } from '../store/db.js'
import { pendingSettlements } from '../store/journal.js'
import type { StoreLocation } from '../store/location.js'
import { getMeta, initMeta } from '../store/meta.js'
import { connectPostgres } from '../store/postgres.js'
import { postgresSchemaVersion } from '../store/postgres-migrate.js'
import { PricesRepo } from '../store/prices.js'
import { ProvidersRepo } from '../store/providers.js'
import { LocalContext, META_MASTER_KEY_CHECK } from './context.js'
import { servingProblem } from './serving.js'

export interface InitResult {
  store: { path: string; created: boolean; schema_version: number }
  master_key: { backend: string; location: string; created: boolean }
  config_path: string
  /** Whether the config file exists: init does not write one (defaults apply until `iron config set`). */
  config_exists: boolean
  next_steps: string[]
}

export const NEXT_STEPS = [
  'iron providers add openai --kind openai          # or: --kind mock for a dry run without a provider account',
  'iron agents create my-agent --provider openai',
  'iron budget set my-agent --limit 50 --period monthly',
  'iron tokens issue my-agent                       # prints the IC token once',
  'iron gateway start                               # then point your SDK at http://127.0.0.1:8788/v1',
]

/**
 * `iron init`: create the store and the master key. Safe to run again: it only fills in what is missing.
 * `created` says whether the store is new, where the caller knows (a PostgreSQL database it migrated).
 */
export function initStore(ctx: LocalContext, created?: boolean): InitResult {
  const existed = created === undefined ? ctx.storeExists : !created
  const db = ctx.db()
  initMeta(db, 'created_at', new Date(ctx.now()).toISOString())
  ctx.masterKey()
  const key = ctx.masterKeyInfo!
  return {
    store: { path: ctx.storeLabel, created: !existed, schema_version: schemaVersion(db) },
    master_key: { backend: key.source, location: key.location, created: key.created },
    config_path: ctx.config.path,
    config_exists: existsSync(ctx.config.path),
    next_steps: NEXT_STEPS,
  }
}

/** `skip`: a check that does not apply to this setup (the detail says why); it fails nothing. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'
export interface DoctorCheck {
  name: string
  status: CheckStatus
  detail: string
  hint?: string
}
export interface DoctorResult {
  ok: boolean
  checks: DoctorCheck[]
}

/** The oldest Node.js iron runs on (what its dependencies declare; bin/check-node.js and package.json agree). */
export const MIN_NODE_VERSION = '22.19'

/** `iron doctor`: what is set up and what is wrong, each with what to do. Read-only. */
export function runDoctor(ctx: LocalContext, nodeVersion: string = process.versions.node): DoctorResult {
  const checks: DoctorCheck[] = [checkNode(nodeVersion), checkConfig(ctx.config)]
  const store = checkStore(ctx)
  checks.push(...store.checks)
  checks.push(checkMasterKey(ctx, store.keyCheck))
  return { ok: checks.every((c) => c.status !== 'fail'), checks }
}

function checkNode(version: string): DoctorCheck {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const [needMajor = 0, needMinor = 0] = MIN_NODE_VERSION.split('.').map(Number)
  return major > needMajor || (major === needMajor && minor >= needMinor)
    ? { name: 'node', status: 'ok', detail: `Node.js ${version}` }
    : {
        name: 'node',
        status: 'fail',
        detail: `Node.js ${version} is older than ${MIN_NODE_VERSION}`,
        hint: `Install Node.js ${MIN_NODE_VERSION} or newer (https://nodejs.org)`,
      }
}

/**
 * `iron doctor` on a PostgreSQL store: reachable, and migrated to the current schema; then, as on SQLite, the
 * master key the store's provider keys are sealed under, and the agents. The checks of the embedded store's
 * file (integrity, permissions, journal) do not apply.
 */
export async function runPostgresDoctor(
  config: IronConfig,
  store: Extract<StoreLocation, { kind: 'postgres' }>,
  nodeVersion: string = process.versions.node,
): Promise<DoctorResult> {
  const storeCheck = await checkPostgresStore(store)
  const checks: DoctorCheck[] = [checkNode(nodeVersion), checkConfig(config), storeCheck]
  if (storeCheck.status === 'ok') {
    const ctx = new LocalContext({ config, db: store.url })
    try {
      const db = ctx.db()
      checks.push(...checkAgents(db), checkMasterKey(ctx, getMeta(db, META_MASTER_KEY_CHECK)))
    } catch (error) {
      checks.push(fromError('store', error))
    } finally {
      ctx.close()
    }
  } else {
    checks.push({ name: 'master key', status: 'skip', detail: 'not checked: the store is not usable yet' })
  }
  return { ok: checks.every((c) => c.status !== 'fail'), checks }
}

async function checkPostgresStore(store: Extract<StoreLocation, { kind: 'postgres' }>): Promise<DoctorCheck> {
  let pg: Awaited<ReturnType<typeof connectPostgres>>
  try {
    pg = await connectPostgres(store.url, store.safeUrl)
  } catch (error) {
    return fromError('store', error)
  }
  try {
    const version = await postgresSchemaVersion(pg.sql)
    const at = `PostgreSQL ${pg.serverVersion} at ${pg.label}`
    const migrate = `Run: iron db migrate --db ${store.safeUrl}`
    if (version === 0) {
      return {
        name: 'store',
        status: 'fail',
        detail: `${at}, schema v0 (v${LATEST_SCHEMA_VERSION} is current; not migrated)`,
        hint: migrate,
      }
    }
    if (version > LATEST_SCHEMA_VERSION) {
      return {
        name: 'store',
        status: 'fail',
        detail: `${at}, schema v${version}: migrated by a newer iron (this one knows up to v${LATEST_SCHEMA_VERSION})`,
        hint: 'Upgrade iron (npm install -g iron-cli@latest), or point --db / IRON_DB at another database',
      }
    }
    return version < LATEST_SCHEMA_VERSION
      ? {
          name: 'store',
          status: 'warn',
          detail: `${at}, schema v${version} (v${LATEST_SCHEMA_VERSION} is current)`,
          hint: migrate,
        }
      : { name: 'store', status: 'ok', detail: `${at}, schema v${version} (current)` }
  } catch (error) {
    return fromError('store', error)
  } finally {
    await pg.close().catch(() => {})
  }
}

function checkConfig(config: IronConfig): DoctorCheck {
  try {
    config.list()
    const where = existsSync(config.path) ? config.path : `${config.path} (not created; defaults apply)`
    return { name: 'config', status: 'ok', detail: where }
  } catch (error) {
    return fromError('config', error)
  }
}

function checkStore(ctx: LocalContext): { checks: DoctorCheck[]; keyCheck: string | undefined } {
  const path = ctx.dbPath
  if (!existsSync(path)) {
    const dir = dirname(path)
    const writable = isWritable(existsSync(dir) ? dir : dirname(dir))
    return {
      checks: [
        {
          name: 'store',
          status: 'fail',
          detail: `${path} does not exist yet`,
          hint: writable
            ? 'Run: iron init'
            : `Make ${dir} writable, or set IRON_DATA_DIR / --db to a writable place`,
        },
      ],
      keyCheck: undefined,
    }
  }
  let db: ReturnType<typeof openDb> | undefined
  try {
    db = openDb(path, { readonly: true })
    const version = schemaVersion(db)
    const integrity = db.pragma('quick_check', { simple: true }) as string
    const journal = db.pragma('journal_mode', { simple: true }) as string
    const sqlite = db.prepare('SELECT sqlite_version()').pluck().get() as string
    const checks: DoctorCheck[] = [
      version < LATEST_SCHEMA_VERSION
        ? {
            name: 'store',
            status: 'warn',
            detail: `SQLite ${sqlite} at ${path}, schema v${version} (v${LATEST_SCHEMA_VERSION} is current)`,
            hint: 'It is upgraded on its next use; run: iron init',
          }
        : {
            name: 'store',
            status: 'ok',
            detail: `SQLite ${sqlite} at ${path}, schema v${version} (current), ${journal} journal`,
          },
      integrity === 'ok'
        ? { name: 'store integrity', status: 'ok', detail: 'quick_check passed' }
        : {
            name: 'store integrity',
            status: 'fail',
            detail: `quick_check reports: ${integrity}`,
            hint: 'Restore the store from a backup; `iron audit verify` tells what the damage touched',
          },
    ]
    const exposed = checkStorePermissions(path)
    if (exposed) checks.push(exposed)
    // Doctor only reads: what a gateway that stopped left in its journal is written by the next command.
    const pending = pendingSettlements(path)
    if (pending)
      checks.push({
        name: 'store journal',
        status: 'warn',
        detail: pending,
        hint: 'Any iron command that uses the store writes them, e.g. iron audit verify',
      })
    if (version === LATEST_SCHEMA_VERSION) checks.push(...checkAgents(db))
    if (!isWritable(path) || !isWritable(dirname(path))) {
      checks.push({
        name: 'store access',
        status: 'fail',
        detail: `${path} or its directory is not writable by this user`,
        hint: 'Fix the permissions, or run iron as the store owner',
      })
    }
    return { checks, keyCheck: version >= 1 ? getMeta(db, META_MASTER_KEY_CHECK) : undefined }
  } catch (error) {
    return { checks: [fromError('store', error)], keyCheck: undefined }
  } finally {
    db?.close()
  }
}

/** Agents that cannot make the calls they are set up for: no provider they may use serves their models. */
function checkAgents(db: Db): DoctorCheck[] {
  const agents = new AgentsRepo(db).list().filter((a) => a.status === 'active')
  if (agents.length === 0) return []
  const providers = new ProvidersRepo(db).list()
  const prices = new PriceTable(BUNDLED_PRICES, new PricesRepo(db).overrides())
  const problems = agents.flatMap((row) => {
    const problem = servingProblem(
      {
        name: row.name,
        allowed_providers: JSON.parse(row.allowed_providers) as string[],
        allowed_models: JSON.parse(row.allowed_models) as string[],
      },
      providers,
      prices,
    )
    return problem ? [{ name: `agent ${row.name}`, status: 'warn' as const, detail: problem }] : []
  })
  return problems.length > 0
    ? problems
    : [
        {
          name: 'agents',
          status: 'ok',
          detail: `${agents.length} active, each with a provider for the models it may use`,
        },
      ]
}

/** The store and its -wal and -shm files hold the ledger, the audit trail and encrypted keys: owner only. */
function checkStorePermissions(path: string): DoctorCheck | undefined {
  if (process.platform === 'win32') return undefined
  const exposed: Array<{ file: string; mode: number }> = []
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number
    try {
      mode = statSync(file).mode & 0o777
    } catch {
      continue
    }
    if (mode & 0o066) exposed.push({ file, mode })
  }
  if (exposed.length === 0) return undefined
  return {
    name: 'store permissions',
    status: 'warn',
    detail: `other users can read or write ${exposed.map((e) => `${e.file} (mode ${e.mode.toString(8).padStart(4, '0')})`).join(', ')}`,
    hint: `Run: chmod 600 ${exposed.map((e) => shellQuote(e.file)).join(' ')}`,
  }
}

const shellQuote = (text: string) =>
  /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`

function checkMasterKey(ctx: LocalContext, expected: string | undefined): DoctorCheck {
  try {
    const key = ctx.keys.find()
    if (!key) {
      return expected
        ? {
            name: 'master key',
            status: 'fail',
            detail:
              'The store has encrypted provider keys, but its master key is not in the keychain or the credentials file',
            hint: 'Restore the credentials file or keychain entry, or set IRON_MASTER_KEY',
          }
        : { name: 'master key', status: 'warn', detail: 'Not created yet', hint: 'Run: iron init' }
    }
    if (expected) {
      try {
        verifyMasterKey(key, expected)
      } catch (error) {
        return fromError('master key', error)
      }
    }
    return { name: 'master key', status: 'ok', detail: `${key.source}: ${key.location}` }
  } catch (error) {
    return fromError('master key', error)
  }
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}

function fromError(name: string, error: unknown): DoctorCheck {
  if (error instanceof IronError) return { name, status: 'fail', detail: error.message, hint: error.hint }
  return { name, status: 'fail', detail: (error as Error).message }
}
