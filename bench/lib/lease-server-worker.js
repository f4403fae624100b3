// `iron serve` (from the build) on an existing store, for bench/lease-server.js: its route table and its
// lease protocol, on 127.0.0.1, in a process of its own. Prints `listening on <url>`; stops when told.
//   node bench/lib/lease-server-worker.js <configDir> <dataDir>   (IRON_MASTER_KEY, and IRON_DB for a store
//   other than the data dir's, in the environment)
import { IronConfig } from '../../dist/src/config/config.js'
import { startServer } from '../../dist/src/server/server.js'
import { LocalContext } from '../../dist/src/services/context.js'
import { exitWhenTold } from './serve.js'

const [configDir, dataDir] = process.argv.slice(2)
const env = { IRON_MASTER_KEY: process.env.IRON_MASTER_KEY }
if (process.env.IRON_DB) env.IRON_DB = process.env.IRON_DB
const ctx = new LocalContext({ config: await IronConfig.load({ configDir, dataDir }, env), env })
const server = await startServer({ ctx, host: '127.0.0.1', port: 0, version: 'bench', drainMs: 1_000 })
exitWhenTold(() => server.close(), { stdinClose: true })
process.stdout.write(`listening on ${server.url}\n`)
