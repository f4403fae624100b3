import { execFile, execFileSync } from 'node:child_process'
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { connectPostgres } from '../store/postgres.js'
import { migratePostgres } from '../store/postgres-migrate.js'

export interface PostgresCluster {
  /** `postgres://iron@127.0.0.1:<port>/postgres`; the role `iron` is the superuser, with trust auth. */
  url: string
  /** The cluster's own directory (data, socket, log); gone once `stop()` resolves. */
  dir: string
  /** Stops the server at once (no checkpoint) and removes its directory. Safe to call twice. */
  stop(): Promise<void>
  /** Stops the server at once (`-m immediate`, every connection cut) and starts it again on the same port. */
  restart(): Promise<void>
}

const MIN_MAJOR = 15
const INSTALL_HINT = `PostgreSQL ${MIN_MAJOR} is not installed: apt-get install postgresql`
const COMMAND_TIMEOUT_MS = 60_000
const START_ATTEMPTS = 3

/**
 * A throwaway PostgreSQL cluster of its own, on a free loopback port, for tests that need the real server.
 * As root it runs as the `postgres` user (the server refuses to run as root), through `runuser`.
 * fsync is off and initdb skips its syncs: the data is not meant to survive the test.
 */
export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBin()
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'iron-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  const stopArgs = ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '10']
  const stopSync = () => {
    try {
      execFileSync(...asUser(asRoot, join(bin, 'pg_ctl'), stopArgs), { stdio: 'ignore', timeout: 15_000 })
    } catch {
      // Not running (never started, or already stopped): nothing to stop.
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // Should the test process end without calling stop(), the server would outlive it: stop it on the way out.
  const onExit = () => stopSync()
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync()
    forget()
    process.kill(process.pid, signal)
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const forget = () => {
    process.off('exit', onExit)
    for (const signal of signals) process.off(signal, onSignal)
  }
  process.on('exit', onExit)
  for (const signal of signals) process.on(signal, onSignal)

  try {
    if (asRoot) {
      const [uid, gid] = await Promise.all([postgresId('-u'), postgresId('-g')])
      chownSync(dir, uid, gid)
    }
    const initdbArgs = ['-D', data, '-A', 'trust', '-U', 'iron', '--no-sync', '-E', 'UTF8', '--locale=C']
    await run(...asUser(asRoot, join(bin, 'initdb'), initdbArgs), dir)
    let port = 0
    const startArgs = () => [
      'start',
      '-D',
      data,
      '-l',
      log,
      '-w',
      '-t',
      '30',
      '-o',
      `-k '${dir}' -c listen_addresses=127.0.0.1 -p ${port} -c fsync=off`,
    ]
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      try {
        await run(...asUser(asRoot, join(bin, 'pg_ctl'), startArgs()), dir)
        break
      } catch (error) {
        // Another process may take the port between our probe and the server's bind: try another one.
        const tail = logTail(log)
        if (attempt < START_ATTEMPTS && /could not (bind|create listen socket)/i.test(tail)) continue
        throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n--- server log ---\n${tail}`)
      }
    }
    let stopped: Promise<void> | undefined
    return {
      url: `postgres://iron@127.0.0.1:${port}/postgres`,
      dir,
      restart: async () => {
        // As a crash would: every connection cut at once, then the server back on the same port and data.
        await run(...asUser(asRoot, join(bin, 'pg_ctl'), stopArgs), dir)
        await run(...asUser(asRoot, join(bin, 'pg_ctl'), startArgs()), dir)
      },
      stop: () => {
        stopped ??= (async () => {
          forget()
          try {
            await run(...asUser(asRoot, join(bin, 'pg_ctl'), stopArgs), dir)
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
        })()
        return stopped
      },
    }
  } catch (error) {
    forget()
    stopSync()
    throw error
  }
}

/** The directory holding `initdb` and `pg_ctl`: PATH first, then the newest /usr/lib/postgresql/<major>/bin. */
function findPostgresBin(): string {
  const fromPath = (process.env.PATH ?? '').split(delimiter).filter((d) => d && hasTools(d))
  const installed = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql')
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
        .filter(hasTools)
    : []
  const found = [...fromPath, ...installed]
  if (found.length === 0)
    throw new Error(`${INSTALL_HINT} (no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin)`)
  const versions = found.map((d) => ({ dir: d, major: majorVersion(d) }))
  const usable = versions.find((v) => v.major >= MIN_MAJOR)
  if (!usable) {
    const seen = versions.map((v) => `${v.dir}: ${v.major || 'unknown version'}`).join(', ')
    throw new Error(`${INSTALL_HINT} (found only older versions: ${seen})`)
  }
  return usable.dir
}

function hasTools(dir: string): boolean {
  return ['initdb', 'pg_ctl'].every((tool) => {
    try {
      accessSync(join(dir, tool), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** `pg_ctl (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` → 15; 0 when it cannot be told. */
function majorVersion(dir: string): number {
  try {
    const out = execFileSync(join(dir, 'pg_ctl'), ['--version'], { encoding: 'utf8', timeout: 10_000 })
    return Number(/\(PostgreSQL\)\s+(\d+)/.exec(out)?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** The command and its arguments, run as the `postgres` user when we are root. */
function asUser(asRoot: boolean, command: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

async function postgresId(flag: '-u' | '-g'): Promise<number> {
  try {
    return Number((await run('id', [flag, 'postgres'])).trim())
  } catch {
    throw new Error(
      `running as root, and there is no \`postgres\` user to run PostgreSQL as (the server refuses root): ${INSTALL_HINT}`,
    )
  }
}

function run(command: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout)
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
        const how = missing
          ? `${command} not found`
          : error.killed
            ? `timed out after ${COMMAND_TIMEOUT_MS / 1000} s`
            : `exited ${error.code}`
        reject(new Error(`${[command, ...args].join(' ')}: ${how}\n${stderr.trim()}`.trim()))
      },
    )
  })
}

/** A loopback port nobody listens on right now (a cluster's, or a database that cannot be reached). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function logTail(log: string): string {
  try {
    return readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')
  } catch {
    return '(no server log)'
  }
}

/** A throwaway cluster whose database is migrated to the schema this build knows, as `iron db migrate` does. */
export async function startMigratedPostgres(): Promise<PostgresCluster> {
  const cluster = await startPostgres()
  try {
    const conn = await connectPostgres(cluster.url, cluster.url)
    try {
      await migratePostgres(conn.sql)
    } finally {
      await conn.close()
    }
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}
