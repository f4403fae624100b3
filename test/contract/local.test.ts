import { describeControlPlane } from './control-plane.contract.js'
import { localHarness } from './harness.js'

// The contract against the local services on a temporary store (the real clock, as a server has).
describeControlPlane('local store', () => localHarness())
