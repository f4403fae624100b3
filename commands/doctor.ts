import { IronCommand, storeFlags } from '../src/cli/base-command.js'
import { type DoctorResult, runDoctor } from '../src/services/setup.js'

export default class Doctor extends IronCommand<DoctorResult> {
  static override summary =
    "Check node, the store, the master key, the config and agents' providers, and say what to fix"
  static override description = 'Read-only. Exits 1 when a check fails; each failure says what to do.'
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']
  static override flags = { ...storeFlags }

  async run(): Promise<DoctorResult> {
    const { flags } = await this.parse(Doctor)
    const result = runDoctor(await this.local(flags))
    const marks = {
      ok: this.out.color.green('✓'),
      warn: this.out.color.yellow('!'),
      fail: this.out.color.red('✗'),
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
