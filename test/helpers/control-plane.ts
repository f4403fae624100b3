import { MemoryVault } from '../../src/config/vault.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { tempContext } from './temp.js'

/** A control plane on a fresh temporary store, with an in-memory vault and a clock tests can move. */
export async function tempControlPlane(start = Date.parse('2026-03-10T12:00:00Z')) {
  const clock = { now: start }
  const { ctx, dirs, vault } = await tempContext({}, new MemoryVault())
  Object.defineProperty(ctx, 'now', { value: () => clock.now })
  const cp = createLocalControlPlane(ctx)
  return { cp, ctx, dirs, vault, clock }
}
