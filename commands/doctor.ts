import { IronCommand, localStoreFlags, storeFlags } from '../src/cli/base-command.js'
import { loginVault, serverInEffect } from '../src/client/context.js'
import { runTeamDoctor } from '../src/client/doctor.js'
import type { DoctorResult } from '../src/services/setup.js'

export default class Doctor extends IronCommand<DoctorResult> {
  static override summary =
    "Check node, the store, the master key, the config, agents' providers and the server, and say what to fix"
  static override description =
    'Read-only. In team mode (a server from --server, IRON_SERVER or iron login) it also checks that the server ' +
    'answers and that this machine is signed in to it. With --db or IRON_DB set to a postgres:// URL it checks ' +
    'that database (reachable, migrated, then its master key and agents); the checks of the embedded ' +
    "store's file do not apply. Exits 1 when a check " +
    'fails; each failure says what to do.'
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json',
    '<%= config.bin %> doctor --db postgres://iron@db.example.com:5432/iron',
  ]
  static override flags = { ...storeFlags, ...localStoreFlags }

  async run(): Promise<DoctorResult> {
    const { flags } = await this.parse(Doctor)
    const config = await this.loadConfig()
    const store = await this.store(flags)
    const target = store.kind === 'postgres' ? { config, postgres: store } : await this.local(flags)
    const result = await runTeamDoctor(target, serverInEffect(config, flags), {
      vault: () => loginVault(config),
      env: process.env,
      version: this.config.version,
      userAgent: `iron-cli/${this.config.version}`,
    })
    const marks = {
      ok: this.out.color.green('✓'),
      warn: this.out.color.yellow('!'),
      fail: this.out.color.red('✗'),
      skip: this.out.color.dim('-'),
    }
    for (const check of result.checks) {
      this.out.line(`${marks[check.status]} ${check.name}: ${check.detail}`)
      if (check.hint && check.status !== 'ok')
        this.out.line(`    ${this.out.color.dim('Try this:')} ${check.hint}`)
    }
    if (!result.ok) this.setExitCode(1)
    return result
  }
}
