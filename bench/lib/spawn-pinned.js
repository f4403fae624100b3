// Spawns a server process pinned to one CPU (with `taskset` when present) and waits until it prints a line
// like `listening on <url>` on stdout or stderr. Benchmarks run the mock provider, the pass-through and the
// gateway this way, each on its own core, with the load driver pinned to another.
//
//   const gw = await spawnPinned({ command: process.execPath, args: ['bin/run.js', 'gateway'], cpu: 2 })
//   ... gw.url ...
//   await gw.stop()
import { spawn, spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** @type {boolean | undefined} */
let tasksetAvailable
/** Children still running, killed if this process exits without stopping them. */
const live = new Set()
let exitHookInstalled = false

/** Whether `taskset` (util-linux) can be run here. */
export function hasTaskset() {
  if (tasksetAvailable === undefined) {
    if (process.platform !== 'linux') tasksetAvailable = false
    else {
      const result = spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
      tasksetAvailable = result.status === 0
    }
  }
  return tasksetAvailable
}

/**
 * Number of CPUs this process could run on when this module was loaded (availableParallelism() follows the
 * affinity mask, so it shrinks once the process is pinned).
 */
const INITIAL_CPUS = availableParallelism()
export const cpuCount = () => INITIAL_CPUS

/**
 * Whether `cpu` (a number, or a taskset list such as '2-3' or '1,3') can be used for pinning here.
 * @param {number | string | undefined | null} cpu
 */
export function canPin(cpu) {
  if (cpu === undefined || cpu === null || cpu === '' || !hasTaskset()) return false
  if (typeof cpu === 'number') return Number.isInteger(cpu) && cpu >= 0 && cpu < cpuCount()
  return /^[0-9,-]+$/.test(cpu)
}

/**
 * Pins a running process (all its threads) to `cpu`. Returns false when it cannot (no taskset, bad CPU).
 * Processes spawned afterwards inherit the mask: pin the driver after spawning the servers.
 * @param {number | string} cpu
 * @param {number} [pid] Default: this process.
 */
export function pinProcess(cpu, pid = process.pid) {
  if (!canPin(cpu)) return false
  const result = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
  return result.status === 0
}

/**
 * Signals the process group a spawned child leads (it was started detached), or the child alone.
 * @param {import('node:child_process').ChildProcess} child
 * @param {NodeJS.Signals} signal
 */
function signalGroup(child, signal) {
  try {
    if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, signal)
    else child.kill(signal)
  } catch {
    // Already gone.
  }
}

/**
 * @typedef {object} SpawnPinnedOptions
 * @property {string} command Executable (e.g. process.execPath).
 * @property {string[]} [args]
 * @property {number | string | null} [cpu] CPU (or taskset CPU list) to pin to; ignored when taskset is absent
 *   or the CPU does not exist (then `pinned` is false).
 * @property {NodeJS.ProcessEnv} [env] Default: this process's environment.
 * @property {string} [cwd]
 * @property {RegExp} [ready] Matched against each output line; group 1, if any, is the URL.
 *   Default /listening on (https?:\/\/\S+)/i.
 * @property {number} [timeoutMs] How long to wait for the ready line (default 20_000).
 * @property {boolean} [echo] Copy the child's output to this process's stderr (default false).
 * @property {number} [nice] Run it at this niceness (`nice -n`), for work off the path being measured.
 */

/**
 * @typedef {object} PinnedProcess
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {string | undefined} url The URL captured from the ready line.
 * @property {RegExpMatchArray} match
 * @property {boolean} pinned Whether the process was started under taskset.
 * @property {() => string} output The last lines the child printed (for diagnostics).
 * @property {(signal?: NodeJS.Signals) => Promise<number | null>} stop SIGTERM to the child's process group, then
 *   SIGKILL after 3 s; resolves with the exit code.
 */

/**
 * Spawns `command` pinned to `cpu` and resolves once it prints its ready line.
 * @param {SpawnPinnedOptions} options
 * @returns {Promise<PinnedProcess>}
 */
export function spawnPinned(options) {
  const args = options.args ?? []
  const pinned = canPin(options.cpu ?? null)
  const [command, commandArgs] =
    options.nice === undefined
      ? [options.command, args]
      : ['nice', ['-n', String(options.nice), options.command, ...args]]
  const [file, argv] = pinned
    ? ['taskset', ['-c', String(options.cpu), command, ...commandArgs]]
    : [command, commandArgs]
  const ready = options.ready ?? /listening on (https?:\/\/\S+)/i
  const timeoutMs = options.timeoutMs ?? 20_000
  // A process group of its own, so that stop() also reaches what a wrapper (sh -c, npm, taskset) started.
  const child = spawn(file, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  })
  live.add(child)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const c of live) signalGroup(c, 'SIGKILL')
    })
  }
  /** @type {string[]} */
  const lines = []
  let exited = false
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true
      live.delete(child)
      resolve(code ?? (signal ? null : 0))
    })
  })

  const stop = async (signal = /** @type {NodeJS.Signals} */ ('SIGTERM')) => {
    if (exited) {
      signalGroup(child, 'SIGTERM') // anything the wrapper left behind
      return exitPromise
    }
    signalGroup(child, signal)
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 3000)
    const code = await exitPromise
    clearTimeout(timer)
    return code
  }

  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (message) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stop('SIGKILL').finally(() =>
        reject(new Error(`${message}: ${options.command} ${args.join(' ')}\n${lines.join('\n')}`)),
      )
    }
    const timer = setTimeout(() => fail(`no ready line within ${timeoutMs} ms`), timeoutMs)
    const onData = (chunk) => {
      const text = chunk.toString()
      if (options.echo) process.stderr.write(text)
      for (const line of text.split('\n')) {
        if (line === '') continue
        lines.push(line)
        if (lines.length > 50) lines.shift()
        if (settled) continue
        const match = line.match(ready)
        if (match) {
          settled = true
          clearTimeout(timer)
          resolve({
            child,
            pid: /** @type {number} */ (child.pid),
            url: match[1]?.replace(/\/+$/, ''),
            match,
            pinned,
            output: () => lines.join('\n'),
            stop,
          })
        }
      }
    }
    // Keep reading after the ready line, so a chatty child never blocks on a full pipe.
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (error) => fail(`could not start (${error.message})`))
    child.once('exit', (code, signal) => fail(`exited before it was ready (code ${code}, signal ${signal})`))
  })
}

const benchFile = (file) => fileURLToPath(new URL(`../${file}`, import.meta.url))

/**
 * The mock provider (bench/mock-provider.js) on a free port, pinned to `cpu`.
 * @param {{ cpu?: number | string | null, args?: string[] }} [options] `args`: extra options, e.g. ['--chunk-delay', '50'].
 */
export function spawnMockProvider(options = {}) {
  return spawnPinned({
    command: process.execPath,
    args: [benchFile('mock-provider.js'), '--port', '0', ...(options.args ?? []), '--exit-on-stdin-close'],
    cpu: options.cpu,
  })
}

/**
 * The bare pass-through (bench/passthrough.js) in front of `upstream`, pinned to `cpu`: the gateway's floor.
 * @param {{ upstream: string, cpu?: number | string | null }} options
 */
export function spawnPassthrough(options) {
  return spawnPinned({
    command: process.execPath,
    args: [benchFile('passthrough.js'), '--upstream', options.upstream, '--exit-on-stdin-close'],
    cpu: options.cpu,
  })
}

/**
 * `iron gateway start --port 0` from a build (this checkout's, or `root`'s), pinned to `cpu`.
 * @param {{ env: NodeJS.ProcessEnv, cpu?: number | string | null, flags?: string[], root?: string }} options
 */
export function spawnIronGateway(options) {
  const bin = options.root ? join(options.root, 'bin/run.js') : benchFile('../bin/run.js')
  return spawnPinned({
    command: process.execPath,
    args: [bin, 'gateway', 'start', '--port', '0', ...(options.flags ?? [])],
    cpu: options.cpu,
    env: options.env,
    timeoutMs: 30_000,
  })
}
