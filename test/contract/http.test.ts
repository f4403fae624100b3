import { describeControlPlane } from './control-plane.contract.js'
import { startTestServer } from './harness.js'

// The contract against the HTTP client, talking to a real iron serve on loopback as its admin.
describeControlPlane('HTTP client against iron serve', async () => {
  const t = await startTestServer()
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
      // A route that failed with a bug (500) would be logged; the contract allows none.
      if (t.logged.length) throw new Error(`iron serve logged:\n${t.logged.join('\n')}`)
    },
  }
})
