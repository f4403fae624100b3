import { describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { gatewayService, gatewayServiceSpec, masterKeyNote } from '../../src/services/service-file.js'
import { parseLaunchdPlist, parseSystemdUnit } from '../helpers/service-files.js'

// Paths a service file must carry exactly: spaces, quotes, a systemd specifier, a variable, XML's specials.
const home = `/home/a b/it's "q" %h $HOME &<>`
const dirs = { configDir: `${home}/.config/iron`, dataDir: `${home}/.local/share/iron` }
const secret = 'iron-master-key-0123456789abcdef0123456789abcdef'

async function spec(env: Record<string, string> = {}) {
  const config = await IronConfig.load(dirs, { IRON_MASTER_KEY: secret, ...env })
  return gatewayServiceSpec(config, {
    node: `${home}/bin/node`,
    bin: `${home}/iron/bin/run.js`,
    db: `${dirs.dataDir}/iron.db`,
    home,
    drainMs: 10_000,
    port: 9100,
  })
}

describe('gateway service files', () => {
  it('of a team gateway run it against its server, with no store', async () => {
    const config = await IronConfig.load(dirs, {})
    const s = gatewayServiceSpec(config, {
      node: '/usr/bin/node',
      bin: '/opt/iron/bin/run.js',
      server: 'https://iron.example.com',
      home,
      drainMs: 10_000,
    })
    expect(s.args).toEqual([
      'gateway',
      'start',
      '--server',
      'https://iron.example.com',
      '--drain-timeout',
      '10s',
    ])
    expect(parseSystemdUnit(gatewayService('systemd', s).content).argv.slice(2)).toEqual(s.args)
  })

  it('carry the command, the pinned store, dirs and settings exactly, and no secret', async () => {
    const s = await spec({ IRON_GATEWAY_LEASE_TTL: '20', IRON_TIMEZONE: 'Europe/Paris' })
    expect(s.args).toEqual([
      'gateway',
      'start',
      '--db',
      `${dirs.dataDir}/iron.db`,
      '--drain-timeout',
      '10s',
      '--port',
      '9100',
    ])
    expect(s.env).toEqual({
      IRON_CONFIG_DIR: dirs.configDir,
      IRON_DATA_DIR: dirs.dataDir,
      IRON_GATEWAY_LEASE_TTL: '20',
      IRON_TIMEZONE: 'Europe/Paris',
    })
    const expected = { argv: [s.node, s.bin, ...s.args], env: s.env }

    const unit = gatewayService('systemd', s)
    expect(parseSystemdUnit(unit.content)).toMatchObject({
      ...expected,
      envFile: `${dirs.configDir}/gateway.env`,
    })
    expect(unit.content).toContain('KillSignal=SIGTERM')
    expect(unit.content).toContain('TimeoutStopSec=20')
    expect(unit.content).toMatch(/^\[Unit\]$[\s\S]*^\[Service\]$[\s\S]*^\[Install\]$/m)
    expect(unit.path).toBe(`${home}/.config/systemd/user/iron-gateway.service`)

    const plist = gatewayService('launchd', s)
    const parsed = parseLaunchdPlist(plist.content)
    expect(parsed).toMatchObject(expected)
    expect(parsed.keys).toEqual(
      expect.arrayContaining(['Label', 'ProgramArguments', 'RunAtLoad', 'KeepAlive', 'ExitTimeOut']),
    )
    expect(plist.path).toBe(`${home}/Library/LaunchAgents/iron.gateway.plist`)

    for (const file of [unit, plist]) {
      expect(file.content).not.toContain(secret)
      expect(file.content).not.toContain('IRON_MASTER_KEY=')
      expect(file.install.length).toBeGreaterThan(0)
    }
  })

  it('say where a master key from the environment goes instead', () => {
    expect(masterKeyNote('systemd', dirs.configDir)).toContain(`${dirs.configDir}/gateway.env (chmod 600)`)
    expect(masterKeyNote('launchd', dirs.configDir)).toContain('keychain')
  })
})
