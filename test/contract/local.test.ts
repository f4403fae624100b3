import { createLocalControlPlane } from '../../src/services/local/index.js'
import { tempContext } from '../helpers/temp.js'
import { describeControlPlane } from './control-plane.contract.js'

// The contract against the local services on a temporary store (the real clock, as a server has).
describeControlPlane('local store', async () => {
  const { ctx } = await tempContext()
  const cp = createLocalControlPlane(ctx)
  return {
    cp,
    store: cp,
    actor: ctx.actor,
    me: { mode: 'local', server: null, role: 'admin', user: null, via: 'local', expires_at: null },
    close: async () => ctx.close(),
  }
})
