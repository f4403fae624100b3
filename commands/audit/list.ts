import { Flags } from '@oclif/core'
import { auditFilterFlags, auditQuery } from '../../src/cli/audit-flags.js'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { auditColumns } from '../../src/cli/views.js'
import type { AuditPage } from '../../src/services/api.js'

export default class AuditList extends IronCommand<AuditPage> {
  static override summary = 'List audit events, newest first, with filters and cursor paging'
  static override examples = [
    '<%= config.bin %> audit list --agent support-bot --since 1d',
    '<%= config.bin %> audit list --action token --outcome success',
    '<%= config.bin %> audit list --limit 100 --cursor c4211 --json',
  ]
  static override flags = {
    ...auditFilterFlags,
    limit: Flags.integer({ description: 'Events per page (1 to 1000)', default: 50, min: 1, max: 1000 }),
    cursor: Flags.string({ description: 'Continue after a previous page (its next_cursor)' }),
    ...storeFlags,
  }

  async run(): Promise<AuditPage> {
    const { flags } = await this.parse(AuditList)
    const page = await (await this.services(flags)).audit.list({
      ...auditQuery(flags),
      limit: flags.limit,
      cursor: flags.cursor,
    })
    this.out.table(page.events, auditColumns, 'No audit events match.')
    if (page.next_cursor)
      this.out.note(`More: iron audit list --cursor ${page.next_cursor} (with the same filters)`)
    return page
  }
}
