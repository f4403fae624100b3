import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import { BUNDLED_PRICES, costMicros, PriceTable } from '../../src/pricing/index.js'
import { homeEnv, ROOT, runIron } from '../helpers/cli.js'
import { type SpawnedGateway, spawnGateway } from '../helpers/spawned-gateway.js'
import { tempDir } from '../helpers/temp.js'

const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const gateways: SpawnedGateway[] = []
afterAll(() => {
  for (const g of gateways) g.child.kill('SIGKILL')
})

/** The `sh` code block that follows `marker` in the README, as commands (comments and blank lines dropped). */
function shBlockAfter(marker: string): string[] {
  const from = README.indexOf(marker)
  expect(from, marker).toBeGreaterThan(-1)
  const start = README.indexOf('```sh\n', from) + '```sh\n'.length
  const block = README.slice(start, README.indexOf('\n```', start))
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean)
}

/** A home of its own, with no OpenAI key in sight, and the gateway on a free port rather than 8788. */
function freshHome(label: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...homeEnv(tempDir(label)), IRON_GATEWAY_PORT: '0' }
  delete env.OPENAI_API_KEY
  return env
}

const words = (command: string) => command.split(/\s+/)

describe('the README quick start, with --kind mock', () => {
  it('works as written: every command, then a call through the gateway with the OpenAI SDK', async () => {
    // The README says: write --kind mock instead of --kind openai and keep every other line.
    expect(README).toContain('write `--kind mock` instead of `--kind openai` and keep every other')
    const commands = shBlockAfter('## Quick start')
    expect(commands[0]).toMatch(/^node bin\/check-node\.js && npm ci && npm run build/)
    const env = freshHome('iron-quick')
    let token = ''
    let gateway: SpawnedGateway | undefined
    for (const command of commands.slice(1)) {
      expect(command).toMatch(/^iron /)
      const args = words(command.replace(/--kind openai\b/, '--kind mock')).slice(1)
      if (args[0] === 'gateway' && args[1] === 'start') {
        gateway = await spawnGateway(args.slice(2), env)
        gateways.push(gateway)
        continue
      }
      const r = await runIron(args, { env })
      expect(r.code, `${command}\n${r.stderr}`).toBe(0)
      if (args[0] === 'providers') expect(r.stderr).toContain('A mock provider takes no API key')
      if (args[0] === 'agents') expect(r.stderr).not.toContain('Warning')
      if (args[0] === 'tokens') token = r.stdout.trim()
    }
    expect(token).toMatch(/^iron_ic_/)
    expect(gateway).toBeDefined()

    // The Python snippet's call, with the JS SDK: its base URL path and model.
    const python = README.slice(README.indexOf('```python'))
    const baseUrl = /base_url="http:\/\/127\.0\.0\.1:8788(\/v1)"/.exec(python)![1]!
    const model = /model="([^"]+)"/.exec(python)![1]!
    expect(model).toBe('gpt-4o-mini')
    const client = new OpenAI({ baseURL: `${gateway!.url}${baseUrl}`, apiKey: token, maxRetries: 0 })
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'user', content: 'Hello' }] })
      .withResponse()
    expect(data.choices[0]!.message.content).toBeTruthy()
    const price = new PriceTable(BUNDLED_PRICES).resolve(model)!.price
    expect(Number(response.headers.get('x-iron-cost-micros'))).toBe(
      costMicros(price, {
        input_tokens: data.usage!.prompt_tokens,
        output_tokens: data.usage!.completion_tokens,
      }),
    )
    const models = []
    for await (const m of client.models.list()) models.push(m.id)
    expect(models).toEqual(['gpt-4o-mini'])

    // What the README runs next (tail follows and top takes the terminal: not here).
    const next = README.lastIndexOf('```sh\n', README.indexOf('iron budget check support-bot'))
    for (const command of shBlockAfter(README.slice(next, next + 20))) {
      const args = words(command).slice(1)
      if ((args[0] === 'audit' && args[1] === 'tail') || args[0] === 'top') continue
      const r = await runIron(args, { env })
      expect(r.code, `${command}\n${r.stderr}`).toBe(0)
      if (args[0] === 'usage') expect(r.stdout).toContain('gpt-4o-mini')
    }
    gateway!.child.kill('SIGTERM')
    expect(await gateway!.exited).toBe(0)
  })
})

describe('agents no provider serves', () => {
  it('agents create and doctor warn, naming the models and what to do', async () => {
    const env = { ...freshHome('iron-unserved'), ANTHROPIC_KEY: 'sk-ant-0123456789abcdef' }
    for (const args of [
      ['init'],
      ['providers', 'add', 'claude', '--kind', 'anthropic', '--api-key-env', 'ANTHROPIC_KEY'],
    ])
      expect((await runIron(args, { env })).code).toBe(0)
    const created = await runIron(
      [
        'agents',
        'create',
        'bot',
        '--provider',
        'claude',
        '--model',
        'gpt-4o-mini',
        '--model',
        'claude-haiku-4-5',
      ],
      { env },
    )
    expect(created.code).toBe(0)
    expect(created.stderr).toMatch(
      /Warning: No provider agent bot may use serves gpt-4o-mini \(an OpenAI model\)/,
    )
    expect(created.stderr).not.toMatch(/serves[^\n]*claude-haiku-4-5/)
    expect(created.stderr).toContain('iron agents update bot --provider')

    const doctor = await runIron(['doctor'], { env })
    expect(doctor.code).toBe(0)
    expect(doctor.stdout).toMatch(/! agent bot: No provider agent bot may use serves gpt-4o-mini/)
    const json = JSON.parse((await runIron(['doctor', '--json'], { env })).stdout)
    expect(json.checks).toContainEqual(expect.objectContaining({ name: 'agent bot', status: 'warn' }))

    // Served once a provider that serves it exists (a mock serves any model).
    expect((await runIron(['providers', 'add', 'dry', '--kind', 'mock'], { env })).code).toBe(0)
    expect(
      (await runIron(['agents', 'update', 'bot', '--provider', 'claude', '--provider', 'dry'], { env })).code,
    ).toBe(0)
    const fixed = await runIron(['doctor', '--json'], { env })
    expect(JSON.parse(fixed.stdout).checks).toContainEqual(
      expect.objectContaining({ name: 'agents', status: 'ok' }),
    )
    const other = await runIron(['agents', 'create', 'other', '--model', 'gpt-4o'], { env })
    expect(other.stderr).not.toContain('Warning')
  })

  it('agents update warns as create does when the new models are served by no provider', async () => {
    const env = { ...freshHome('iron-unserved-update'), ANTHROPIC_KEY: 'sk-ant-0123456789abcdef' }
    for (const args of [
      ['init'],
      ['providers', 'add', 'claude', '--kind', 'anthropic', '--api-key-env', 'ANTHROPIC_KEY'],
      ['agents', 'create', 'bot', '--provider', 'claude', '--model', 'claude-haiku-4-5'],
    ]) {
      const r = await runIron(args, { env })
      expect(r.code).toBe(0)
      expect(r.stderr).not.toContain('Warning')
    }
    const moved = await runIron(['agents', 'update', 'bot', '--model', 'gpt-4o-mini', '--json'], { env })
    expect(moved.code).toBe(0)
    expect(JSON.parse(moved.stdout)).toMatchObject({ name: 'bot', allowed_models: ['gpt-4o-mini'] })
    expect(moved.stderr).toMatch(
      /Warning: No provider agent bot may use serves gpt-4o-mini \(an OpenAI model\)/,
    )
    expect(moved.stderr).toContain('iron agents update bot --provider')
    // A suspended agent makes no calls (doctor leaves it out too); back to a served model, nothing to say.
    const suspended = await runIron(['agents', 'update', 'bot', '--status', 'suspended'], { env })
    expect(suspended.code).toBe(0)
    expect(suspended.stderr).not.toContain('Warning')
    const back = await runIron(
      ['agents', 'update', 'bot', '--status', 'active', '--model', 'claude-haiku-4-5'],
      { env },
    )
    expect(back.code).toBe(0)
    expect(back.stderr).toContain('Updated agent bot')
    expect(back.stderr).not.toContain('Warning')
  })

  it('an agent created before any provider hears that it has none', async () => {
    const env = freshHome('iron-noprov')
    const created = await runIron(['agents', 'create', 'bot'], { env })
    expect(created.code).toBe(0)
    expect(created.stderr).toContain('Warning: Agent bot has no provider to call yet')
  })

  it('providers add --kind mock takes no key: a key flag is ignored with a warning, nothing read or stored', async () => {
    const env = freshHome('iron-mockkey')
    const r = await runIron(['providers', 'add', 'dry', '--kind', 'mock', '--api-key-stdin', '--json'], {
      env,
      input: 'sk-should-never-be-read-0123456789',
    })
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('A mock provider takes no API key: --api-key-stdin is ignored')
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'dry', kind: 'mock', key_mask: null })
  })
})
