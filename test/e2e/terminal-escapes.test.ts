import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { AuditRepo } from '../../src/store/audit.js'
import { openDb } from '../../src/store/db.js'
import { BIN, type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

/** Sets the terminal's title and clears the screen when printed raw. */
const EVIL = 'ok\u001b]0;HACKED\u0007\u001b[2J\u009b2J end'
const SHOWN = 'ok\\x1b]0;HACKED\\x07\\x1b[2J\\x9b2J end'
/** Any byte a terminal would act on, but the tabs and newlines of the printer's own layout. */
const ACTING = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
const withoutColours = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '')

const home = tempDir('iron-e2e-escapes')
const env = homeEnv(home)
const iron = (args: string[], extra: Record<string, string> = {}) =>
  runIron(args, { env: { ...env, ...extra } })

/** Neither stream holds a byte that acts on a terminal (with colour on, only the printer's own SGR). */
function expectInert(result: CliResult) {
  for (const text of [result.stdout, result.stderr]) expect(withoutColours(text)).not.toMatch(ACTING)
}

describe('values an agent controls reach the terminal escaped (spawned)', () => {
  beforeAll(async () => {
    for (const args of [
      ['init'],
      ['agents', 'create', 'bot', '--description', EVIL, '--project', EVIL],
      ['budget', 'set', 'bot', '--limit', '5'],
      ['budget', 'adjust', 'bot', '--amount', '1', '--reason', EVIL],
    ]) {
      expect((await iron(args)).code).toBe(0)
    }
    // A gateway request as the gateway records it, for a model string the agent chose.
    const db = openDb(join(home, 'data', 'iron', 'iron.db'))
    db.transaction(() =>
      new AuditRepo(db).append({
        actor: 'agent:agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
        action: 'gateway.request',
        resource_type: 'request',
        resource_id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w',
        outcome: 'success',
        data: { model: EVIL, status: 200, cost_micros: 12 },
      }),
    ).immediate()
    db.close()
  })

  it('agents show and list print descriptions and projects escaped; --json keeps them exact', async () => {
    for (const extra of [{}, { FORCE_COLOR: '1' }]) {
      const show = await iron(['agents', 'show', 'bot'], extra)
      expect(show.code).toBe(0)
      expectInert(show)
      expect(show.stdout).toContain(SHOWN)
      const list = await iron(['agents', 'list'], extra)
      expectInert(list)
      expect(list.stdout).toContain(SHOWN)
    }
    const json = await iron(['agents', 'show', 'bot', '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({ description: EVIL, project: EVIL })
  })

  it('budget history prints reasons escaped', async () => {
    const history = await iron(['budget', 'history', 'bot'])
    expect(history.code).toBe(0)
    expectInert(history)
    expect(history.stdout).toContain(SHOWN)
    const json = await iron(['budget', 'history', 'bot', '--json'])
    expect(JSON.parse(json.stdout).map((row: { note: string | null }) => row.note)).toContain(EVIL)
  })

  it('an error that echoes what was typed escapes it', async () => {
    const missing = await iron(['agents', 'show', EVIL.replaceAll(' ', '')])
    expect(missing.code).not.toBe(0)
    expectInert(missing)
    expect(missing.stderr).toContain('\\x1b]0;HACKED')
  })

  it('audit list, show and tail print the model string an agent sent escaped', async () => {
    const list = await iron(['audit', 'list', '--action', 'gateway'])
    expectInert(list)
    expect(list.stdout).toContain('gateway.request')
    const id = JSON.parse((await iron(['audit', 'list', '--action', 'gateway', '--json'])).stdout).events[0]
      .id
    const show = await iron(['audit', 'show', id])
    expectInert(show)
    expect(show.stdout).toContain('"model": "ok\\u001b]0;HACKED\\u0007')

    const tail = spawn(process.execPath, [BIN, 'audit', 'tail', '--lines', '5', '--interval', '50ms'], {
      env: { ...process.env, ...env, FORCE_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    tail.stdout.on('data', (d) => (stdout += d))
    tail.stderr.on('data', (d) => (stderr += d))
    const exit = new Promise<number | null>((resolve) => tail.on('exit', resolve))
    const deadline = Date.now() + 10_000
    while (!stdout.includes('gateway.request') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    tail.kill('SIGINT')
    expect(await exit).toBe(130)
    expect(stdout).toContain(`gateway.request`)
    expect(stdout).toContain(`${SHOWN} 200 $0.000012`)
    expectInert({ code: 130, stdout, stderr })
  })
})
