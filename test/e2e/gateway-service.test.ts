import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { parseLaunchdPlist, parseSystemdUnit, type ServiceCommand } from '../helpers/service-files.js'
import { tempDir } from '../helpers/temp.js'

const killers: Array<() => void> = []
afterAll(() => {
  for (const kill of killers) kill()
})

/** Run a service's command as its manager would: that command line, that environment, nothing of ours. */
function runAsService(
  service: ServiceCommand,
  home: string,
): Promise<{ url: string; exited: Promise<number | null> }> {
  const [command, ...args] = service.argv
  const child = spawn(command!, args, {
    env: { HOME: home, ...service.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  killers.push(() => child.kill('SIGKILL'))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let err = ''
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d
      const match = /listening on (http:\/\/\S+)/.exec(err)
      if (match) resolve({ url: match[1]!, exited })
    })
    void exited.then((code) => reject(new Error(`exited ${code}: ${err}`)))
  })
}

describe('iron gateway start --print-service', () => {
  for (const kind of ['systemd', 'launchd'] as const) {
    it(`${kind}: prints a file whose command runs this gateway on this store, that status and stop see; no secrets`, async () => {
      // A home with a space, a specifier and a variable in its path, as the file must carry them.
      const home = join(tempDir('iron-svc'), 'a b %h $HOME')
      const env = { ...process.env, ...homeEnv(home), UPSTREAM_KEY: 'sk-upstream-secret-0123456789' }
      for (const args of [
        ['init'],
        ['providers', 'add', 'openai', '--kind', 'openai', '--api-key-env', 'UPSTREAM_KEY'],
      ])
        expect((await runIron(args, { env })).code).toBe(0)

      const masterKey = 'iron-master-key-not-for-service-files-0123456789'
      const printed = await runIron(['gateway', 'start', '--print-service', kind, '--port', '0'], {
        env: { ...env, IRON_MASTER_KEY: masterKey },
      })
      expect(printed.code, printed.stderr).toBe(0)
      expect(printed.stderr).toContain('Save it as')
      expect(printed.stderr).toContain('Warning: IRON_MASTER_KEY is set here but is not written')
      for (const secret of [masterKey, 'sk-upstream-secret-0123456789', 'admin_token'])
        expect(printed.stdout).not.toContain(secret)
      // It printed, and started nothing.
      expect((await runIron(['gateway', 'status'], { env })).code).toBe(3)

      const service =
        kind === 'systemd' ? parseSystemdUnit(printed.stdout) : parseLaunchdPlist(printed.stdout)
      expect(service.argv.slice(0, 4)).toEqual([process.execPath, BIN, 'gateway', 'start'])
      const running = await runAsService(service, home)
      const status = await runIron(['gateway', 'status', '--json'], { env })
      expect(status.code, status.stderr).toBe(0)
      expect(JSON.parse(status.stdout).gateways).toEqual([
        expect.objectContaining({ url: running.url, state: 'running' }),
      ])
      const stop = await runIron(['gateway', 'stop'], { env })
      expect(stop.code, stop.stderr).toBe(0)
      expect(await running.exited).toBe(0)
    })
  }
})

/** A tool of this machine that checks such files, if it has one. */
const has = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore' }).status === 0

describe('the printed files, checked by the tools that read them (when this machine has them)', () => {
  const printed = async (kind: 'systemd' | 'launchd') => {
    const home = join(tempDir('iron-svc-check'), 'a b %h')
    const r = await runIron(['gateway', 'start', '--print-service', kind], {
      env: { ...process.env, ...homeEnv(home) },
    })
    expect(r.code, r.stderr).toBe(0)
    const file = join(
      tempDir('iron-svc-file'),
      kind === 'systemd' ? 'iron-gateway.service' : 'iron.gateway.plist',
    )
    writeFileSync(file, r.stdout)
    return file
  }

  it.skipIf(!has('systemd-analyze', ['--version']))('systemd-analyze verify accepts the unit', async () => {
    const check = spawnSync('systemd-analyze', ['verify', await printed('systemd')], { encoding: 'utf8' })
    expect(check.status, check.stderr).toBe(0)
    expect(check.stderr).toBe('')
  })

  it.skipIf(!has('python3', ['-c', 'import plistlib']))('a plist reader reads the agent', async () => {
    const check = spawnSync(
      'python3',
      [
        '-c',
        'import plistlib, sys; p = plistlib.load(open(sys.argv[1], "rb")); print(p["Label"], p["ProgramArguments"][2:4])',
        await printed('launchd'),
      ],
      { encoding: 'utf8' },
    )
    expect(check.status, check.stderr).toBe(0)
    expect(check.stdout.trim()).toBe("iron.gateway ['gateway', 'start']")
  })
})
