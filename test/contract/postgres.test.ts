import { startMigratedPostgres } from '../../src/testing/postgres.js'
import { type ContractHarness, describeControlPlane } from './control-plane.contract.js'
import { httpHarness, localHarness } from './harness.js'

// The contract on PostgreSQL (a throwaway cluster of its own, migrated): the services on it, then the HTTP
// client against iron serve on it.
async function onPostgres(harness: (env: { IRON_DB: string }) => Promise<ContractHarness>) {
  const pg = await startMigratedPostgres()
  try {
    const h = await harness({ IRON_DB: pg.url })
    return {
      ...h,
      close: async () => {
        try {
          await h.close()
        } finally {
          await pg.stop()
        }
      },
    }
  } catch (error) {
    await pg.stop()
    throw error
  }
}

describeControlPlane('local services on PostgreSQL', () => onPostgres(localHarness))
describeControlPlane('HTTP client against iron serve on PostgreSQL', () => onPostgres(httpHarness))
