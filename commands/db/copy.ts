import { Flags } from '@oclif/core'
import { IronCommand } from '../../src/cli/base-command.js'
import { printDbCopy } from '../../src/cli/views.js'
import { copyStore, type DbCopyResult } from '../../src/services/db-copy.js'

export default class DbCopy extends IronCommand<DbCopyResult> {
  static override summary = 'Copy a team from a SQLite store to a PostgreSQL database, and verify the copy'
  static override description =
    'Reads the SQLite store (left untouched; it must be at the current schema), migrates the PostgreSQL ' +
    'database, and copies every table in one transaction: all of it or nothing. A database that already ' +
    'holds iron data is refused (exit 2) and left as it is. Afterwards it checks the target: row counts per ' +
    'table, each budget against its ledger rows, and the audit chain; exits 1 when anything differs. Stop ' +
    'the gateways and iron serve on the SQLite store first: what they write after the copy starts stays behind.'
  static override examples = [
    '<%= config.bin %> db copy --from ~/.local/share/iron/iron.db --to postgres://iron@db.example.com:5432/iron',
    '<%= config.bin %> db copy --from ./team.db --to postgres://iron@localhost/iron --json',
  ]
  static override flags = {
    from: Flags.string({ description: 'The SQLite store to copy (a file)', required: true }),
    to: Flags.string({
      description: 'The PostgreSQL database to copy into (a postgres:// URL)',
      required: true,
    }),
  }

  async run(): Promise<DbCopyResult> {
    const { flags } = await this.parse(DbCopy)
    const result = await copyStore(flags.from, flags.to)
    printDbCopy(this.out, result)
    if (!result.verified.ok) this.setExitCode(1)
    return result
  }
}
