import { Command, Errors, Flags } from '@oclif/core'
import { IronConfig } from '../config/config.js'
import { resolveDirs } from '../config/paths.js'
import type { IronError } from '../core/errors.js'
import { LocalContext } from '../services/context.js'
import { createLocalControlPlane, type LocalControlPlane } from '../services/local/index.js'
import { Output } from './output.js'
import { confirm } from './prompt.js'
import { debugStack, renderErrorText, toIronError } from './render-error.js'

/** `--db`, for commands that use the local store. */
export const storeFlags = {
  db: Flags.string({
    description: 'Path of the store (SQLite file); overrides IRON_DB and the config file',
    helpGroup: 'GLOBAL',
  }),
}

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
  #services: LocalControlPlane | undefined
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

  /** The control plane: the local store now; a server in team mode later. */
  protected async services(flags: { db?: string } = {}): Promise<LocalControlPlane> {
    this.#services ??= createLocalControlPlane(await this.local(flags))
    return this.#services
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
    await super.finally(error)
  }
}
