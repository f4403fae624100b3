import { type ChildProcess, spawn } from 'node:child_process'
import { BIN } from './cli.js'

export interface SpawnedIron {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>
}

export type SpawnedGateway = SpawnedIron

/** `iron gateway start …` as a user runs it; resolves once it says where it listens. */
export const spawnGateway = (args: string[], env: NodeJS.ProcessEnv): Promise<SpawnedGateway> =>
  spawnListening(['gateway', 'start', ...args], env)

/** An iron command that serves (`gateway start`, `serve`), as a user runs it; resolves once it says where it listens. */
export function spawnListening(args: string[], env: NodeJS.ProcessEnv): Promise<SpawnedIron> {
  const what = `iron ${args[0]}`
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${err}`)), 30_000)
    child.stderr!.on('data', (d) => {
      err += d
      const match = /listening on (http:\/\/\S+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1]!, stdout: () => out, stderr: () => err, exited })
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited (${code}) before listening: ${err}`))
    })
  })
}

/** Wait for a condition, checking every 50 ms (no fixed sleeps); `why` says what was seen when it times out. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  ms = 20_000,
  why?: () => string,
): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms${why ? `: ${why()}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
