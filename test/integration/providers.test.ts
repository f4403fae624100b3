import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import type { IronError } from '../../src/core/errors.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { tempControlPlane } from '../helpers/control-plane.js'

const KEY = 'sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789x9Qa'

async function modelsServer(status = 200) {
  const seen: Record<string, string | undefined>[] = []
  const server = createServer((req, res) => {
    seen.push({
      url: req.url,
      authorization: req.headers.authorization,
      'x-api-key': req.headers['x-api-key'] as string,
    })
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify(
        status === 200 ? { data: [{ id: 'm1' }, { id: 'm2' }] } : { error: { message: 'bad key' } },
      ),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

describe('provider credentials', () => {
  it('seal the key with AES-256-GCM, show it only masked, and decrypt it for the gateway', async () => {
    const { cp, ctx } = await tempControlPlane()
    const provider = await cp.providers.add({ name: 'openai', kind: 'openai', api_key: KEY })
    expect(provider).toMatchObject({
      kind: 'openai',
      base_url: 'https://api.openai.com/v1',
      key_mask: 'sk-p…x9Qa',
    })
    const raw = ctx.db().prepare('SELECT * FROM providers').get() as { sealed_key: Buffer }
    expect(raw.sealed_key.includes(Buffer.from(KEY))).toBe(false)
    expect(JSON.stringify(raw)).not.toContain(KEY)
    expect(JSON.stringify(await cp.providers.list())).not.toContain(KEY)
    expect(cp.providers.apiKey(cp.repos.providers.byName('openai')!)).toBe(KEY)
  })

  it('refuse a wrong master key with a clear error and never write the key in plain text', async () => {
    const { cp, ctx, dirs } = await tempControlPlane()
    await cp.providers.add({ name: 'openai', kind: 'openai', api_key: KEY })
    ctx.close()
    const config = await IronConfig.load(dirs, {})
    const wrong = new LocalContext({ config, env: { IRON_MASTER_KEY: 'ef'.repeat(32) } })
    const other = createLocalControlPlane(wrong)
    const error = (() => {
      try {
        other.providers.apiKey(other.repos.providers.byName('openai')!)
      } catch (e) {
        return e as IronError
      }
    })()
    expect(error?.code).toBe('MASTER_KEY_MISMATCH')
    expect(error?.exitCode).toBe(4)
    wrong.close()
  })

  it('validate kinds, URLs and keys', async () => {
    const { cp } = await tempControlPlane()
    const expectCode = async (p: Promise<unknown>, code: string) =>
      expect(((await p.catch((e: unknown) => e)) as IronError).code).toBe(code)
    await expectCode(cp.providers.add({ name: 'x', kind: 'azure' as never }), 'INVALID_PROVIDER_KIND')
    await expectCode(cp.providers.add({ name: 'x', kind: 'openai' }), 'API_KEY_REQUIRED')
    await expectCode(cp.providers.add({ name: 'x', kind: 'openai-compatible' }), 'BASE_URL_REQUIRED')
    await expectCode(
      cp.providers.add({ name: 'x', kind: 'openai-compatible', base_url: 'ftp://a' }),
      'INVALID_URL',
    )
    await expectCode(
      cp.providers.add({ name: 'x', kind: 'openai-compatible', base_url: 'https://user:pw@host/v1' }),
      'INVALID_URL',
    )
    await expectCode(cp.providers.add({ name: 'x', kind: 'openai', api_key: 'sk a b' }), 'INVALID_API_KEY')
    await cp.providers.add({
      name: 'local',
      kind: 'openai-compatible',
      base_url: 'http://127.0.0.1:11434/v1/',
    })
    expect((await cp.providers.get('local')).base_url).toBe('http://127.0.0.1:11434/v1')
    await expectCode(cp.providers.add({ name: 'local', kind: 'mock' }), 'NAME_TAKEN')
  })

  it('test makes one real call to list models and remembers the outcome', async () => {
    const { cp } = await tempControlPlane()
    const ok = await modelsServer()
    await cp.providers.add({
      name: 'compat',
      kind: 'openai-compatible',
      base_url: `${ok.url}/v1`,
      api_key: KEY,
    })
    const result = await cp.providers.test('compat')
    expect(result).toMatchObject({ ok: true, status: 200, models: 2 })
    expect(ok.seen[0]).toMatchObject({ url: '/v1/models', authorization: `Bearer ${KEY}` })
    expect((await cp.providers.get('compat')).last_test).toMatchObject({ ok: true })
    await ok.close()

    const denied = await modelsServer(401)
    await cp.providers.add({ name: 'claude', kind: 'anthropic', base_url: denied.url, api_key: KEY })
    const refused = await cp.providers.test('claude')
    expect(refused).toMatchObject({ ok: false, status: 401 })
    expect(refused.note).toContain('refused the key')
    expect(refused.note).not.toContain(KEY)
    expect(denied.seen[0]).toMatchObject({ url: '/v1/models', 'x-api-key': KEY })
    await denied.close()

    const gone = await cp.providers.test('compat')
    expect(gone.ok).toBe(false)
    expect(gone.note).toContain('ECONNREFUSED')
  })

  it('remove refuses while agents use the provider', async () => {
    const { cp } = await tempControlPlane()
    await cp.providers.add({ name: 'mock', kind: 'mock' })
    expect((await cp.providers.test('mock')).ok).toBe(true)
    await cp.agents.create({ name: 'bot', allowed_providers: ['mock'] })
    const error = (await cp.providers.remove('mock').catch((e: unknown) => e)) as IronError
    expect(error.code).toBe('PROVIDER_IN_USE')
    expect(error.message).toContain('bot')
    await cp.agents.update('bot', { allowed_providers: [] })
    await cp.providers.remove('mock')
    expect(await cp.providers.list()).toEqual([])
  })
})
