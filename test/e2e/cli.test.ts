import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

let home: string
let env: Record<string, string>
const iron = (args: string[], extra: Record<string, string | undefined> = {}) =>
  runIron(args, { env: { ...env, ...extra } })
const json = (result: CliResult) => JSON.parse(result.stdout)

beforeEach(() => {
  home = tempDir('iron-e2e')
  env = homeEnv(home)
})

describe('iron (the binary)', () => {
  it('prints its version and help with every topic', async () => {
    const version = await iron(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout).toMatch(/^iron-cli\/\d+\.\d+\.\d+ /)
    const help = await iron(['--help'])
    expect(help.code).toBe(0)
    for (const word of ['config', 'init', 'doctor', 'autocomplete']) expect(help.stdout).toContain(word)
    const topic = await iron(['config', '--help'])
    expect(topic.stdout).toContain('config set')
    const command = await iron(['config', 'set', '--help'])
    expect(command.stdout).toContain('EXAMPLES')
  })

  it('treats unknown flags and commands as usage errors (exit 2), one clear message, no stack', async () => {
    const flag = await iron(['config', 'list', '--bogus'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/^Error \(USAGE\): Nonexistent flag: --bogus/)
    expect(flag.stderr).toContain('Try this: See: iron config list --help')
    expect(flag.stderr).not.toMatch(/\bat .*\.js:\d+/)

    const command = await iron(['confg', 'list'])
    expect(command.code).toBe(2)
    expect(command.stderr).toContain('Did you mean: iron config list?')

    const asJson = await iron(['config', 'list', '--bogus', '--json'])
    expect(asJson.code).toBe(2)
    expect(json(asJson)).toEqual({
      error: {
        code: 'USAGE',
        message: expect.stringContaining('--bogus'),
        hint: expect.any(String),
        exit_code: 2,
      },
    })
  })

  it('init creates the store and a 0600 key file once, then is idempotent', async () => {
    const first = await iron(['init', '--json'])
    expect(first.code).toBe(0)
    const result = json(first)
    expect(result.store).toMatchObject({ created: true, path: join(home, 'data', 'iron', 'iron.db') })
    expect(result.master_key).toMatchObject({ backend: 'file', created: true })
    expect(existsSync(result.store.path)).toBe(true)

    const second = await iron(['init'])
    expect(second.code).toBe(0)
    expect(second.stderr).toContain('is ready')
    expect(second.stdout).toContain('Next steps:')
    expect(second.stderr).not.toContain('Created the master key')

    const doctor = await iron(['doctor', '--json'])
    expect(doctor.code).toBe(0)
    expect(json(doctor).ok).toBe(true)
  })

  it('creates stores readable by their owner only, also with --db, and doctor warns about one that is not', async () => {
    const previous = process.umask(0o022)
    try {
      const mode = (file: string) => (statSync(file).mode & 0o777).toString(8)
      expect((await iron(['init'])).code).toBe(0)
      expect(mode(join(home, 'data', 'iron'))).toBe('700')
      expect(mode(join(home, 'data', 'iron', 'iron.db'))).toBe('600')
      const other = join(home, 'some', 'dir', 'x.db')
      expect((await iron(['agents', 'create', 'bot', '--db', other])).code).toBe(0)
      expect(mode(join(home, 'some', 'dir'))).toBe('700')
      expect(mode(other)).toBe('600')

      chmodSync(other, 0o644)
      const doctor = await iron(['doctor', '--db', other])
      expect(doctor.code).toBe(0)
      expect(doctor.stdout).toContain(
        `! store permissions: other users can read or write ${other} (mode 0644)`,
      )
      expect(doctor.stdout).toContain(`Try this: Run: chmod 600 ${other}`)
    } finally {
      process.umask(previous)
    }
  })

  it('doctor exits 1 and says what to do when the store is missing', async () => {
    const doctor = await iron(['doctor'])
    expect(doctor.code).toBe(1)
    expect(doctor.stdout).toContain('✗ store')
    expect(doctor.stdout).toContain('Try this: Run: iron init')
  })

  it('refuses a wrong master key with exit 4 and a foreign or corrupt store with exit 1', async () => {
    expect((await iron(['init'])).code).toBe(0)
    const wrong = await iron(['init'], { IRON_MASTER_KEY: 'ab'.repeat(32) })
    expect(wrong.code).toBe(4)
    expect(wrong.stderr).toContain('Error (MASTER_KEY_MISMATCH)')

    const bogus = join(home, 'notes.db')
    writeFileSync(bogus, 'shopping list: milk, eggs'.repeat(200))
    const corrupt = await iron(['init', '--db', bogus])
    expect(corrupt.code).toBe(1)
    expect(corrupt.stderr.trim().split('\n')).toHaveLength(2)
    expect(corrupt.stderr).toContain('Error (STORE_CORRUPT)')
    expect(readFileSync(bogus, 'utf8')).toBe('shopping list: milk, eggs'.repeat(200))
  })

  it('config: set, get with its source, env wins over file, invalid values rejected without writing', async () => {
    expect((await iron(['config', 'set', 'gateway.port', '9100'])).code).toBe(0)
    const get = await iron(['config', 'get', 'gateway.port', '--json'])
    expect(json(get)).toMatchObject({ key: 'gateway.port', value: 9100, source: 'file' })
    const fromEnv = await iron(['config', 'get', 'gateway.port'], { IRON_GATEWAY_PORT: '9200' })
    expect(fromEnv.stdout.trim()).toBe('9200')

    const path = (await iron(['config', 'path'])).stdout.trim()
    const before = readFileSync(path, 'utf8')
    const bad = await iron(['config', 'set', 'gateway.port', 'ninety'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('Invalid value "ninety" for gateway.port: ')
    expect(readFileSync(path, 'utf8')).toBe(before)

    const unknown = await iron(['config', 'get', 'colour'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('Known keys:')

    const list = await iron(['config', 'list'])
    const lines = list.stdout.trim().split('\n')
    expect(lines.find((l) => l.startsWith('gateway.port\t'))).toBe(
      'gateway.port\t9100\tfile\tIRON_GATEWAY_PORT',
    )
  })

  it('respects NO_COLOR, FORCE_COLOR and --json for colour', async () => {
    await iron(['init'])
    const forced = await iron(['doctor'], { FORCE_COLOR: '1' })
    expect(forced.stdout).toContain('\u001b[')
    const forceWins = await iron(['doctor'], { FORCE_COLOR: '1', NO_COLOR: '1' })
    expect(forceWins.stdout).toContain('\u001b[')
    const noColor = await iron(['doctor'], { NO_COLOR: '1' })
    expect(noColor.stdout).toContain('✓ store: ')
    expect(noColor.stdout).not.toContain('\u001b[')
    const asJson = await iron(['doctor', '--json'], { FORCE_COLOR: '1' })
    expect(JSON.parse(asJson.stdout).checks.length).toBeGreaterThan(0)
    expect(asJson.stdout).not.toContain('\u001b[')
    const dumb = await iron(['doctor'], { TERM: 'dumb', FORCE_COLOR: undefined })
    expect(dumb.stdout).toContain('✓ store: ')
    expect(dumb.stdout).not.toContain('\u001b[')
  })
})
