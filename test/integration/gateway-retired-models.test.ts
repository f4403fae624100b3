import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { requestRecord, startTestGateway } from '../helpers/gateway.js'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
let gw: Gw | undefined
afterEach(async () => {
  await gw?.close()
  gw = undefined
})

async function messages(g: Gw, model: string) {
  const response = await request(`${g.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': g.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] }),
  })
  return {
    status: response.statusCode,
    headers: response.headers,
    json: (await response.body.json()) as { type: string; error: { type: string; message: string } },
  }
}

describe('a model its provider retired', () => {
  it('is refused with the replacement to use, not sent where it would fail, and left out of /v1/models', async () => {
    gw = await startTestGateway()
    const served = gw.mock.stats().requests
    for (const model of ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929', 'claude-3-haiku']) {
      const refused = await messages(gw, model)
      expect(refused.status, model).toBe(404)
      expect(refused.json).toMatchObject({ type: 'error', error: { type: 'not_found_error' } })
      expect(refused.json.error.message).toMatch(
        /^Anthropic retired claude-(sonnet-4-5|3-haiku) on 20\d\d-\d\d-\d\d; use /,
      )
      expect(requestRecord(gw.ctx.db(), refused.headers['x-iron-request-id'] as string)).toMatchObject({
        status: 404,
        error_code: 'model_retired',
      })
    }
    expect((await messages(gw, 'claude-sonnet-4-5')).json.error.message).toContain(
      'use claude-sonnet-5-5 instead',
    )
    expect(gw.mock.stats().requests).toBe(served)
    // Its replacement goes through.
    expect((await messages(gw, 'claude-sonnet-5-5')).status).toBe(200)

    const models = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${gw.token}` } })
    const ids = ((await models.body.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)
    expect(ids).toContain('claude-sonnet-5-5')
    expect(ids).not.toContain('claude-sonnet-4-5')
  })

  it('goes through again with a price of the user’s own (a platform that still serves it)', async () => {
    gw = await startTestGateway()
    await gw.cp.pricing.set({ model: 'claude-sonnet-4-5', input_micros_per_mtok: 3_000_000 })
    expect((await messages(gw, 'claude-sonnet-4-5')).status).toBe(200)
  })

  it('is refused when an agent is given it, with the replacement', async () => {
    gw = await startTestGateway()
    await expect(
      gw.cp.agents.create({ name: 'old', allowed_models: ['claude-sonnet-4-5'] }),
    ).rejects.toMatchObject({
      code: 'MODEL_RETIRED',
      exitCode: 2,
      message: 'Anthropic retired claude-sonnet-4-5 on 2026-11-30; use claude-sonnet-5-5 instead',
    })
    const view = await gw.cp.pricing.get('claude-sonnet-4-5-20250929')
    expect(view).toMatchObject({
      status: 'retired',
      retires_on: '2026-11-30',
      replacement: 'claude-sonnet-5-5',
    })
    expect((await gw.cp.pricing.list()).map((p) => p.model)).not.toContain('claude-sonnet-4-5')
    expect((await gw.cp.pricing.list({ include_retired: true })).map((p) => p.model)).toContain(
      'claude-sonnet-4-5',
    )
  })
})
