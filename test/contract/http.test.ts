import { describeControlPlane } from './control-plane.contract.js'
import { httpHarness } from './harness.js'

// The contract against the HTTP client, talking to a real iron serve on loopback as its admin.
describeControlPlane('HTTP client against iron serve', () => httpHarness())
