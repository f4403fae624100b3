import type { AnyRoute } from '../route.js'
import { agentRoutes } from './agents.js'
import { auditRoutes } from './audit.js'
import { authRoutes } from './auth.js'
import { budgetRequestRoutes } from './budget-requests.js'
import { budgetRoutes } from './budgets.js'
import { leaseRoutes } from './leases.js'
import { pricingRoutes } from './pricing.js'
import { providerRoutes } from './providers.js'
import { safetyRoutes } from './safety.js'
import { systemRoutes } from './system.js'
import { userRoutes } from './users.js'

/** Every route of `iron serve`: the REST table of SPEC §9. */
export const ROUTES: readonly AnyRoute[] = [
  ...systemRoutes,
  ...authRoutes,
  ...userRoutes,
  ...agentRoutes,
  ...providerRoutes,
  ...budgetRoutes,
  ...budgetRequestRoutes,
  ...leaseRoutes,
  ...pricingRoutes,
  ...auditRoutes,
  ...safetyRoutes,
]
