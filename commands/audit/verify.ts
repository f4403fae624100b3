import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import type { AuditVerification } from '../../src/services/api.js'

export default class AuditVerify extends IronCommand<AuditVerification> {
  static override summary =
    'Prove the audit chain; exits 1 and names the first broken event if it does not hold'
  static override description =
    'Recomputes every hash from the last retention checkpoint (whose signature is checked) to the head. ' +
    'Keep the head hash it prints somewhere else: it anchors everything before it.'
  static override examples = ['<%= config.bin %> audit verify', '<%= config.bin %> audit verify --json']
  static override flags = { ...storeFlags }

  async run(): Promise<AuditVerification> {
    const { flags } = await this.parse(AuditVerify)
    const result = await (await this.services(flags)).audit.verify()
    if (result.ok) {
      const pruned = result.pruned
        ? `, after ${result.pruned.events} pruned (checkpoint through ${result.pruned.through_seq})`
        : ''
      this.out.line(`${this.out.color.green('✓')} ${result.events} audit events verified${pruned}`)
      if (result.head) this.out.line(`  head: event ${result.head.seq}, hash ${result.head.hash}`)
    } else {
      for (const problem of result.problems) this.out.line(`${this.out.color.red('✗')} ${problem}`)
      this.setExitCode(1)
    }
    return result
  }
}
