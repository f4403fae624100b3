// Hermetic test environment: temporary XDG dirs per worker, no IRON_* from the developer's shell,
// a fixed terminal width, and never the developer's OS keychain.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

for (const key of Object.keys(process.env)) {
  if (key.startsWith('IRON_') || key === 'NO_COLOR' || key === 'FORCE_COLOR') delete process.env[key]
}
const root = mkdtempSync(join(tmpdir(), 'iron-test-'))
process.env.HOME = root
process.env.XDG_CONFIG_HOME = join(root, 'config')
process.env.XDG_DATA_HOME = join(root, 'data')
process.env.XDG_CACHE_HOME = join(root, 'cache')
process.env.IRON_CREDENTIAL_STORE = 'file'
process.env.COLUMNS = '100'
process.env.TZ = 'UTC'
