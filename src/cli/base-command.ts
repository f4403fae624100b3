import { Command, Errors, Flags } from '@oclif/core'
import { connectServer, serverInEffect } from '../client/context.js'
import type { HttpControlPlane } from '../client/http-control-plane.js'
import { IronConfig } from '../config/config.js'
import { resolveDirs } from '../config/paths.js'
import type { IronError } from '../core/errors.js'
import { LocalContext } from '../services/context.js'
import { createLocalControlPlane, type LocalControlPlane } from '../services/local/index.js'
import { type StoreLocation, storeInEffect } from '../store/location.js'
import { Output } from './output.js'
import { confirm } from './prompt.js'
import { debugStack, renderErrorText, toIronError } from './render-error.js'

/** `--db`: the store, a SQLite file or a PostgreSQL database (never a server: see storeFlags). */
export const localStoreFlags = {
  db: Flags.string({
    description:
      'Path of the store (SQLite file), or a postgres:// URL; overrides IRON_DB and the config file',
    helpGroup: 'GLOBAL',
  }),
}

/** Where the control plane is: a local store (`--db`) or an `iron serve` (`--server`, the login context). */
export const storeFlags = {
  ...localStoreFlags,
  server: Flags.string({
    description:
      'URL of an iron serve to use (overrides IRON_SERVER and the context iron login set); --db means the local store',
    helpGroup: 'GLOBAL',
  }),
}

/** The control plane a command works on: the local store, or a server over HTTP (same interface and values). */
export type Services = LocalControlPlane | HttpControlPlane

/** `--yes`, for destructive commands. */
export const yesFlag = {
  yes: Flags.boolean({ char: 'y', description: 'Confirm without a prompt (required when not interactive)' }),
}

/**
 * The base of every iron command: `--json` (the return value of run(), or {"error": {...}}), the one
 * printer, typed errors with SPEC §3 exit codes, and the local context for commands that need the store.
 */
export abstract class IronCommand<T> extends Command {
  static override enableJsonFlag = true

  protected out!: Output
  #context: LocalContext | undefined
  #services: Services | undefined
  #exitCode = 0

  override async init(): Promise<void> {
    await super.init()
    this.out = new Output(process.stdout, process.stderr, process.env, this.jsonEnabled())
  }

  abstract override run(): Promise<T>

  /** Config (flag > env > file > default) for commands that do not need the store. */
  protected async loadConfig(): Promise<IronConfig> {
    return IronConfig.load(resolveDirs(process.env), process.env)
  }

  /** Where the store is (--db > IRON_DB > config file > default): a SQLite file or a PostgreSQL URL. */
  protected async store(flags: { db?: string } = {}): Promise<StoreLocation> {
    return storeInEffect(await this.loadConfig(), flags.db)
  }

  /** The local store, config and vault; closed when the command ends. */
  protected async local(flags: { db?: string } = {}): Promise<LocalContext> {
    if (!this.#context) {
      this.#context = new LocalContext({
        config: await this.loadConfig(),
        db: flags.db,
        warn: (message) => this.out.warn(message),
      })
    }
    return this.#context
  }

  /** The local store as a SQLite file (a local gateway, its journal, `iron run`): PostgreSQL is refused. */
  protected async localFile(flags: { db?: string } = {}): Promise<LocalContext> {
    const ctx = await this.local(flags)
    ctx.requireFileStore()
    return ctx
  }

  /** The control plane: the server in effect (--server > IRON_SERVER > iron login's context), else the local store. */
  protected async services(flags: { db?: string; server?: string } = {}): Promise<Services> {
    if (!this.#services) {
      const config = await this.loadConfig()
      const server = serverInEffect(config, flags)
      this.#services = server
        ? connectServer(config, server, { userAgent: `iron-cli/${this.config.version}` })
        : createLocalControlPlane(await this.local(flags))
    }
    return this.#services
  }

  /** For commands that work on the local store only: say so when a server is in effect, and carry on locally. */
  protected async warnLocalOnly(what: string, flags: { db?: string } = {}): Promise<void> {
    const server = serverInEffect(await this.loadConfig(), flags)
    if (server) this.out.warn(`${what} works on the local store, not on the server in effect (${server.url})`)
  }

  protected confirm(question: string, yes: boolean | undefined): Promise<void> {
    return confirm(question, Boolean(yes))
  }

  /** Finish with this exit code after the result has been printed (doctor, budget check). */
  protected setExitCode(code: number): void {
    this.#exitCode = code
  }

  override async _run<R>(): Promise<R> {
    const result = await super._run<R>()
    if (this.#exitCode !== 0) throw new Errors.ExitError(this.#exitCode)
    return result
  }

  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  override async catch(thrown: Error): Promise<never> {
    if (thrown instanceof Errors.ExitError) throw thrown
    const error: IronError = toIronError(thrown, this.id)
    if (this.jsonEnabled()) {
      this.logJson({ error: error.toJSON() })
    } else {
      const plain = { red: (s: string) => s, dim: (s: string) => s }
      const text = renderErrorText(error, this.out?.errColor ?? plain)
      if (this.out) this.out.note(text.trimEnd())
      else process.stderr.write(text)
    }
    if (process.env.IRON_DEBUG === '1' && error.code !== 'USAGE')
      process.stderr.write(`${debugStack(error)}\n`)
    throw new Errors.ExitError(error.exitCode)
  }

  override async finally(error: Error | undefined): Promise<void> {
    await this.#context?.notifyChanges().catch(() => {})
    this.#context?.close()
    if (this.#services && 'close' in this.#services) await this.#services.close()
    await super.finally(error)
  }
}
