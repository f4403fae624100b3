import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type Conf from 'conf'
import { z } from 'zod'
import { IronError, usageError } from '../core/errors.js'
import { parseDuration } from '../core/time.js'
import { TrustedProxies } from '../core/trusted-proxies.js'
import { withoutPassword } from '../core/urls.js'
import { CONFIG_FILE, type Env, type IronDirs, STORE_FILE } from './paths.js'

const timezone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz })
      return true
    } catch {
      return false
    }
  },
  { message: 'not a known IANA time zone (for example UTC, Europe/Paris, America/New_York)' },
)

const httpUrl = z
  .string()
  .url({ message: 'not a URL' })
  .refine((u) => /^https?:\/\//.test(u), { message: 'must start with http:// or https://' })

/** Whole seconds, typed as a length of time (`15`, `15s`, `2m`) like every duration flag. */
const seconds = (min: number, max: number) =>
  z.preprocess(
    (value) => {
      if (typeof value !== 'string') return value
      try {
        return parseDuration(value, 'value', { min: 0 }) / 1_000
      } catch {
        return Number.NaN
      }
    },
    z
      .number({ error: 'must be a length of time, such as 15, 15s or 2m' })
      .int('must be a whole number of seconds')
      .min(min, `must be at least ${min}s`)
      .max(max, `must be at most ${max}s`),
  )

interface KeyDef {
  schema: z.ZodType
  description: string
  default: (dirs: IronDirs) => string | number | undefined
}

/**
 * Every config key iron knows. Values are set as strings on the command line and stored typed in the file.
 * Each key has an `IRON_*` environment variable: upper case, dots and dashes as underscores.
 */
export const CONFIG_KEYS = {
  db: {
    schema: z.string().min(1, 'must not be empty'),
    description: 'Path of the store (the SQLite file)',
    default: (dirs) => join(dirs.dataDir, STORE_FILE),
  },
  credential_store: {
    schema: z.enum(['auto', 'keyring', 'file']),
    description: 'Where the master key is kept: auto (OS keychain, else a 0600 file), keyring, or file',
    default: () => 'auto',
  },
  'gateway.host': {
    schema: z.string().min(1, 'must not be empty'),
    description: 'Address `iron gateway start` listens on',
    default: () => '127.0.0.1',
  },
  'gateway.port': {
    schema: z.coerce.number().int('must be a whole number').min(0).max(65535),
    description: 'Port `iron gateway start` listens on (0: any free port)',
    default: () => 8788,
  },
  'gateway.lease_ttl': {
    schema: seconds(3, 3600),
    description:
      "Seconds a gateway's leases outlive its last heartbeat; after a crash, its budget comes back this long after",
    default: () => 15,
  },
  'serve.session_ttl': {
    schema: seconds(300, 7 * 86_400),
    description:
      'Seconds an `iron serve` session lasts after its last use (12h by default); a session ends 7 days after sign-in whatever its use',
    default: () => 43_200,
  },
  'serve.lease_ttl': {
    schema: seconds(10, 86_400),
    description:
      "Seconds a team gateway's lease from `iron serve` lives without a report (15 min by default); then what it did not report goes back to the budget",
    default: () => 900,
  },
  'serve.trusted_proxies': {
    schema: z.string().transform((text, ctx) => {
      try {
        return TrustedProxies.parse(text).toString()
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message })
        return z.NEVER
      }
    }),
    description:
      "Load balancers and proxies in front of `iron serve` whose X-Forwarded-For is believed (IP addresses or CIDR ranges, comma-separated; none by default): the client's address (login limits, audit) is then the first untrusted address from the right",
    default: () => undefined,
  },
  'alerts.webhook_url': {
    schema: httpUrl.refine((u) => !/^https?:\/\/[^/?#]*@/.test(u), {
      message: 'must not hold a user name or password (put a token in the path or query instead)',
    }),
    description:
      'URL alerts (budget thresholds, firewall blocks) are POSTed to as signed JSON with a Slack-compatible text; setting it shows the signing secret once',
    default: () => undefined,
  },
  timezone: {
    schema: timezone,
    description: 'Default time zone for budget periods',
    default: () => 'UTC',
  },
  server: {
    schema: httpUrl,
    description:
      'URL of an `iron serve` control plane: management commands go there (iron login sets it; --server and IRON_SERVER override, --db means the local store)',
    default: () => undefined,
  },
} satisfies Record<string, KeyDef>

export type ConfigKey = keyof typeof CONFIG_KEYS
export type ConfigSource = 'flag' | 'env' | 'file' | 'default'
export interface ConfigEntry {
  key: ConfigKey
  value: string | number | undefined
  source: ConfigSource
  env: string
  description: string
}

export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[]

export const envNameOf = (key: string): string => `IRON_${key.toUpperCase().replace(/[.-]/g, '_')}`

export function assertConfigKey(key: string): ConfigKey {
  if (key in CONFIG_KEYS) return key as ConfigKey
  throw usageError(
    'UNKNOWN_CONFIG_KEY',
    `Unknown config key '${key}'`,
    `Known keys: ${CONFIG_KEY_NAMES.join(', ')}. See them with: iron config list`,
  )
}

function parseValue(key: ConfigKey, value: unknown, origin: string): string | number {
  const result = (CONFIG_KEYS[key].schema as z.ZodType<string | number>).safeParse(value)
  if (result.success) return result.data
  const reason = result.error.issues.map((i) => i.message).join('; ')
  throw usageError(
    'INVALID_CONFIG_VALUE',
    `Invalid value ${JSON.stringify(value)} for ${key}${origin ? ` ${origin}` : ''}: ${reason}`,
  )
}

type FileValues = Partial<Record<ConfigKey, unknown>>

/**
 * Config with precedence flag > IRON_* env > config file > default. The file is JSON in the config dir,
 * kept by conf (atomic writes, mode 0600), loaded only when it exists so that reading never creates it.
 */
export class IronConfig {
  readonly path: string
  #conf: Conf | undefined
  #file: FileValues = {}

  private constructor(
    readonly dirs: IronDirs,
    readonly env: Env,
  ) {
    this.path = join(dirs.configDir, CONFIG_FILE)
  }

  /** Reads the file directly (fast start-up); conf is loaded only to write it. */
  static async load(dirs: IronDirs, env: Env = process.env): Promise<IronConfig> {
    const config = new IronConfig(dirs, env)
    if (!existsSync(config.path)) return config
    let stored: unknown
    try {
      stored = JSON.parse(readFileSync(config.path, 'utf8'))
    } catch (error) {
      throw new IronError(
        'CONFIG_UNREADABLE',
        `Cannot read the config file ${config.path}: ${firstLine(error)}`,
        {
          hint: 'Fix or delete that file; `iron config set` writes a fresh one',
        },
      )
    }
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) {
      throw new IronError('CONFIG_UNREADABLE', `The config file ${config.path} does not hold a JSON object`, {
        hint: 'Fix or delete that file; `iron config set` writes a fresh one',
      })
    }
    config.#file = flatten(stored as Record<string, unknown>) as FileValues
    return config
  }

  async #open(): Promise<Conf> {
    if (this.#conf) return this.#conf
    const { default: ConfStore } = await import('conf')
    try {
      this.#conf = new ConfStore({
        cwd: this.dirs.configDir,
        configName: CONFIG_FILE.replace(/\.json$/, ''),
        configFileMode: 0o600,
        clearInvalidConfig: false,
      })
    } catch (error) {
      throw unwritable(this.path, error)
    }
    return this.#conf
  }

  /** The effective value of a key and where it came from. */
  entry(key: ConfigKey, flagValue?: string | number): ConfigEntry {
    const def = CONFIG_KEYS[key]
    const env = envNameOf(key)
    const base = { key, env, description: def.description }
    if (flagValue !== undefined)
      return { ...base, value: parseValue(key, flagValue, 'from the command line'), source: 'flag' }
    const fromEnv = this.env[env]
    if (fromEnv !== undefined && fromEnv !== '') {
      return { ...base, value: parseValue(key, fromEnv, `in the environment variable ${env}`), source: 'env' }
    }
    const fromFile = this.#file[key]
    if (fromFile !== undefined) {
      try {
        return { ...base, value: parseValue(key, fromFile, `in ${this.path}`), source: 'file' }
      } catch (error) {
        throw new IronError((error as IronError).code, (error as IronError).message, {
          hint: `Fix it with: iron config set ${key} <value>, or remove it with: iron config unset ${key}`,
        })
      }
    }
    return { ...base, value: def.default(this.dirs), source: 'default' }
  }

  get(key: ConfigKey, flagValue?: string | number): string | number | undefined {
    return this.entry(key, flagValue).value
  }

  getString(key: ConfigKey, flagValue?: string): string {
    return String(this.get(key, flagValue) ?? '')
  }

  list(): ConfigEntry[] {
    return CONFIG_KEY_NAMES.map((key) => this.entry(key))
  }

  /** What a person may see of a key's value (printed, or in --json): a database URL without its password. */
  static shown(key: ConfigKey, value: string | number | undefined): string | number | undefined {
    return key === 'db' && typeof value === 'string' ? withoutPassword(value) : value
  }

  /** Validate and store a value; returns the stored (typed) value. Nothing is written if it is invalid. */
  async set(key: ConfigKey, raw: string): Promise<string | number> {
    const value = parseValue(key, raw, '')
    await this.#write({ ...this.#file, [key]: value })
    return value
  }

  /** Remove a key from the file; returns whether it was there. */
  async unset(key: ConfigKey): Promise<boolean> {
    if (!(key in this.#file)) return false
    const values = { ...this.#file }
    delete values[key]
    await this.#write(values)
    return true
  }

  async #write(values: FileValues): Promise<void> {
    const conf = await this.#open()
    try {
      conf.store = nest(values)
    } catch (error) {
      throw unwritable(this.path, error)
    }
    this.#file = values
  }
}

const firstLine = (error: unknown) => ((error as Error).message ?? String(error)).split('\n')[0]

const unwritable = (path: string, error: unknown) =>
  new IronError('CONFIG_UNWRITABLE', `Cannot write the config file ${path}: ${firstLine(error)}`, {
    hint: 'Make the config directory writable, or point IRON_CONFIG_DIR at one that is',
  })

function flatten(object: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(object)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, key))
    else out[key] = v
  }
  return out
}

function nest(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    const parts = key.split('.')
    let node = out
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {}
      node = node[part] as Record<string, unknown>
    }
    node[parts.at(-1)!] = value
  }
  return out
}
