import { IronConfig } from '../../src/config/config.js'
import { MemoryVault } from '../../src/config/vault.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { startMigratedPostgres } from '../../src/testing/postgres.js'
import { tempDirs } from '../helpers/temp.js'
import { describeControlPlane } from './control-plane.contract.js'
import { startTestServer } from './harness.js'

// The contract on PostgreSQL (a throwaway cluster of its own, migrated): the services on it, then the HTTP
// client against iron serve on it.
describeControlPlane('local services on PostgreSQL', async () => {
  const pg = await startMigratedPostgres()
  const env = { IRON_DB: pg.url }
  const config = await IronConfig.load(tempDirs(), env)
  const ctx = new LocalContext({ config, env, vault: new MemoryVault() })
  const cp = createLocalControlPlane(ctx)
  return {
    cp,
    store: cp,
    actor: ctx.actor,
    me: { mode: 'local', server: null, role: 'admin', user: null, via: 'local', expires_at: null },
    close: async () => {
      ctx.close()
      await pg.stop()
    },
  }
})

describeControlPlane('HTTP client against iron serve on PostgreSQL', async () => {
  const pg = await startMigratedPostgres()
  const t = await startTestServer({ IRON_DB: pg.url })
  await t.addUser('admin', 'admin')
  const cp = t.clientFor(await t.signIn('admin'))
  return {
    cp,
    store: t.server.cp,
    actor: 'user:admin',
    me: { mode: 'server', server: t.server.url, role: 'admin', via: 'session' },
    close: async () => {
      await cp.close()
      await t.close()
      await pg.stop()
      if (t.logged.length) throw new Error(`iron serve logged:\n${t.logged.join('\n')}`)
    },
  }
})
