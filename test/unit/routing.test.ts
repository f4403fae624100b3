import { describe, expect, it } from 'vitest'
import { modelsPayload } from '../../src/gateway/models.js'
import { type Route, type RouteRefusal, route } from '../../src/gateway/routing.js'
import { BUNDLED_PRICES, PriceTable } from '../../src/pricing/index.js'
import { mockModelPrice } from '../../src/pricing/lookup.js'
import { DEFAULT_POLICY } from '../../src/safety/policy.js'
import type { GatewayAgent, GatewayProvider } from '../../src/services/gateway-control.js'
import { servingProblem } from '../../src/services/serving.js'

const prices = new PriceTable(BUNDLED_PRICES)
const provider = (name: string, kind: GatewayProvider['kind']): GatewayProvider => ({
  id: `prov_${name}`,
  name,
  kind,
  base_url: null,
})
const agent = (fields: Partial<GatewayAgent> = {}): GatewayAgent => ({
  id: 'agent_x',
  name: 'support-bot',
  status: 'active',
  allowed_providers: [],
  allowed_models: [],
  rpm_limit: null,
  tpm_limit: null,
  budgeted: true,
  policy: DEFAULT_POLICY,
  ...fields,
})
const routed = (result: Route | RouteRefusal): Route => {
  if ('status' in result) throw new Error(`refused: ${result.code} ${result.message}`)
  return result
}
const refused = (result: Route | RouteRefusal): RouteRefusal => {
  if (!('status' in result)) throw new Error(`routed to ${result.provider.name}`)
  return result
}
const catalog = (model: string) => prices.resolve(model)!.price

describe('a mock provider answers any model', () => {
  // The README's quick start with --kind mock: a provider named openai, of kind mock.
  const quickStart = agent({ allowed_providers: ['openai'], allowed_models: ['gpt-4o-mini'] })
  const openaiMock = [provider('openai', 'mock')]

  it('serves a catalog model priced as the catalog says, on either API', () => {
    for (const family of ['openai', 'anthropic'] as const) {
      const r = routed(
        route({ agent: quickStart, requested: 'gpt-4o-mini', family, providers: openaiMock, prices }),
      )
      expect(r.provider.name).toBe('openai')
      expect(r.model).toBe('gpt-4o-mini')
      expect(r.price).toEqual(catalog('gpt-4o-mini'))
    }
    const claude = routed(
      route({
        agent: agent(),
        requested: 'claude-haiku-4-5',
        family: 'anthropic',
        providers: openaiMock,
        prices,
      }),
    )
    expect(claude.price).toEqual(catalog('claude-haiku-4-5'))
  })

  it('serves a model the catalog does not know, priced as mock-small under its own name, budget or not', () => {
    for (const budgeted of [true, false]) {
      const r = routed(
        route({
          agent: agent({ budgeted }),
          requested: 'my-model',
          family: 'openai',
          providers: openaiMock,
          prices,
        }),
      )
      expect(r.model).toBe('my-model')
      expect(r.price).toMatchObject({
        model: 'my-model',
        provider: 'mock',
        input_micros_per_mtok: catalog('mock-small').input_micros_per_mtok,
        output_micros_per_mtok: catalog('mock-small').output_micros_per_mtok,
        max_output_tokens: catalog('mock-small').max_output_tokens,
      })
    }
  })

  it('takes the rates of mock-small as overridden', () => {
    const overridden = new PriceTable(BUNDLED_PRICES, [
      { ...catalog('mock-small'), input_micros_per_mtok: 7, output_micros_per_mtok: 9 },
    ])
    expect(mockModelPrice(overridden, 'anything')).toMatchObject({
      model: 'anything',
      input_micros_per_mtok: 7,
      output_micros_per_mtok: 9,
    })
  })

  it('comes after every provider that serves the model itself', () => {
    const providers = [
      provider('mock', 'mock'),
      provider('openai', 'openai'),
      provider('local', 'openai-compatible'),
    ]
    const any = agent({ budgeted: false })
    expect(
      routed(route({ agent: any, requested: 'gpt-4o-mini', family: 'openai', providers, prices })).provider
        .name,
    ).toBe('openai')
    // An OpenAI-compatible server may know a model iron has no price for; the mock is for what nobody serves.
    expect(
      routed(route({ agent: any, requested: 'llama3', family: 'openai', providers, prices })).provider.name,
    ).toBe('local')
    expect(
      routed(route({ agent: any, requested: 'claude-haiku-4-5', family: 'anthropic', providers, prices }))
        .provider.name,
    ).toBe('mock')
    // The agent with a budget: a model without a price on a real server still fails closed.
    expect(
      refused(route({ agent: agent(), requested: 'llama3', family: 'openai', providers, prices })).code,
    ).toBe('model_not_priced')
  })

  it('is only used when the agent may use it; allowed models still apply', () => {
    const providers = [provider('openai', 'openai'), provider('mock', 'mock')]
    const noMock = agent({ allowed_providers: ['openai'] })
    expect(
      refused(route({ agent: noMock, requested: 'my-model', family: 'openai', providers, prices })),
    ).toMatchObject({
      status: 404,
      code: 'model_not_found',
    })
    expect(
      refused(route({ agent: noMock, requested: 'claude-haiku-4-5', family: 'openai', providers, prices }))
        .code,
    ).toBe('no_provider')
    expect(
      refused(
        route({ agent: quickStart, requested: 'gpt-4o', family: 'openai', providers: openaiMock, prices }),
      ).code,
    ).toBe('model_not_allowed')
  })
})

describe('GET /v1/models lists what the agent can really use', () => {
  const ids = (payload: unknown) => (payload as { data: Array<{ id: string }> }).data.map((m) => m.id)

  it('an allowed model that no provider of the agent serves is not listed', () => {
    const claudeOnly = [provider('claude', 'anthropic')]
    const a = agent({ allowed_models: ['gpt-4o-mini', 'claude-haiku-4-5'] })
    expect(ids(modelsPayload(a, claudeOnly, prices, false))).toEqual([])
    expect(ids(modelsPayload(a, claudeOnly, prices, true))).toEqual(['claude-haiku-4-5'])
  })

  it('with a mock provider, the allowed models (the quick start: gpt-4o-mini)', () => {
    const a = agent({ allowed_providers: ['openai'], allowed_models: ['gpt-4o-mini'] })
    expect(ids(modelsPayload(a, [provider('openai', 'mock')], prices, false))).toEqual(['gpt-4o-mini'])
  })

  it('without a list, every priced model a provider of the agent serves, and no other', () => {
    const listed = ids(modelsPayload(agent(), [provider('openai', 'openai')], prices, false))
    expect(listed).toContain('gpt-4o-mini')
    expect(listed).not.toContain('claude-haiku-4-5')
    expect(listed).not.toContain('mock-small')
    const none = ids(
      modelsPayload(agent({ allowed_providers: ['nobody'] }), [provider('openai', 'openai')], prices, false),
    )
    expect(none).toEqual([])
  })
})

describe('servingProblem: an agent whose models no provider serves', () => {
  const bot = (fields: { allowed_providers?: string[]; allowed_models?: string[] } = {}) => ({
    name: 'support-bot',
    allowed_providers: [],
    allowed_models: [],
    ...fields,
  })

  it('names the models nobody serves, the providers it has, and what to do', () => {
    const problem = servingProblem(
      bot({ allowed_models: ['gpt-4o-mini', 'claude-haiku-4-5'] }),
      [provider('claude', 'anthropic')],
      prices,
    )
    expect(problem).toContain('gpt-4o-mini (an OpenAI model)')
    expect(problem).not.toContain('claude-haiku-4-5')
    expect(problem).toContain('claude (anthropic)')
    expect(problem).toContain('iron agents update support-bot --provider')
  })

  it('says when there is no provider at all', () => {
    expect(servingProblem(bot(), [], prices)).toMatch(/no provider to call yet.*iron providers add/)
    expect(
      servingProblem(bot({ allowed_providers: ['gone'] }), [provider('openai', 'openai')], prices),
    ).toMatch(/no provider to call yet/)
  })

  it('has nothing to say when every model is served (a mock serves all)', () => {
    expect(
      servingProblem(bot({ allowed_models: ['gpt-4o-mini'] }), [provider('openai', 'mock')], prices),
    ).toBeUndefined()
    expect(
      servingProblem(bot({ allowed_models: ['gpt-4o-mini'] }), [provider('o', 'openai')], prices),
    ).toBeUndefined()
    expect(servingProblem(bot(), [provider('c', 'anthropic')], prices)).toBeUndefined()
  })
})
