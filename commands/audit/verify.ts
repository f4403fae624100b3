import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import type { AuditVerification } from '../../src/services/api.js'

export default class AuditVerify extends IronCommand<AuditVerification> {
  static override summary =
    'Prove the audit chain; exits 1 and names the first broken event if it does not hold'
  static override description =
    'Recomputes every hash from the last retention checkpoint (whose signature is checked) to the head, and ' +
    'prints the head as <seq>:<hash>. A chain cannot show that events were removed from its end: keep the ' +
    'head somewhere else (a ticket, a log, another machine) and pass it with --expect-head next time, so ' +
    'verify also checks that the chain still reaches that event with that hash.'
  static override examples = [
    '<%= config.bin %> audit verify',
    '<%= config.bin %> audit verify --expect-head 1234:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '<%= config.bin %> audit verify --json',
  ]
  static override flags = {
    'expect-head': Flags.string({
      description: 'A head printed by an earlier verify (<seq>:<hash>) that the chain must still reach',
    }),
    ...storeFlags,
  }

  async run(): Promise<AuditVerification> {
    const { flags } = await this.parse(AuditVerify)
    const result = await (await this.services(flags)).audit.verify({ expect_head: flags['expect-head'] })
    if (result.ok) {
      const pruned = result.pruned
        ? `, after ${result.pruned.events} pruned (checkpoint through ${result.pruned.through_seq})`
        : ''
      this.out.line(`${this.out.color.green('✓')} ${result.events} audit events verified${pruned}`)
      if (result.expected_head)
        this.out.line(
          `${this.out.color.green('✓')} the chain still reaches the expected head ${result.expected_head.seq}`,
        )
      if (result.witness) {
        this.out.line(`head ${result.witness}`)
        this.out.note(
          `Keep this head somewhere else (a ticket, a log, another machine); next time run: iron audit verify --expect-head ${result.witness}`,
        )
      }
    } else {
      for (const problem of result.problems) this.out.line(`${this.out.color.red('✗')} ${problem}`)
      this.setExitCode(1)
    }
    return result
  }
}
