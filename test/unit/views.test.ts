import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Output } from '../../src/cli/output.js'
import { auditLine, printDemoSummary, printToken, printUsage, tokenColumns } from '../../src/cli/views.js'
import type { DemoSummary } from '../../src/gateway/demo.js'
import type { AuditEvent, IcToken, UsageReport } from '../../src/services/api.js'

function stream(tty: boolean) {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string }
  let text = ''
  s.write = ((chunk: string) => {
    text += chunk
    return true
  }) as never
  Object.assign(s, { isTTY: tty, columns: 120, text: () => text })
  return s
}
const piped = () => {
  const stdout = stream(false)
  return { stdout, out: new Output(stdout, stream(false), {}) }
}

const event = (over: Partial<AuditEvent>): AuditEvent => ({
  id: 'aud_01jd8x4k3m5n6p7q8r9s0t1v2w',
  seq: 7,
  at: '2026-12-01T10:00:00.000Z',
  actor: 'agent:agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
  action: 'gateway.request',
  resource: { type: 'request', id: 'req_01jd8x4k3m5n6p7q8r9s0t1v2w' },
  agent_id: 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
  agent_name: 'support-bot',
  outcome: 'success',
  data: { model: 'gpt-4o-mini', status: 200, cost_micros: 420 },
  prev_hash: '0'.repeat(64),
  hash: '1'.repeat(64),
  ...over,
})

describe('views', () => {
  it('audit tail names agents as every other view does', () => {
    const { out } = piped()
    expect(auditLine(out, event({}))).toBe(
      '2026-12-01T10:00:00.000Z  success  gateway.request  agent:support-bot  gpt-4o-mini 200 $0.00042',
    )
    const issue = event({
      actor: 'local:alice',
      action: 'token.issue',
      resource: { type: 'ic_token', id: 'ic_01jd8x4k3m5n6p7q8r9s0t1v2w' },
      data: {},
    })
    expect(auditLine(out, issue)).toBe(
      '2026-12-01T10:00:00.000Z  success  token.issue  local:alice  support-bot ic_01jd8x4k3m5n6p7q8r9s0t1v2w',
    )
    const create = event({
      actor: 'local:alice',
      action: 'agent.create',
      resource: { type: 'agent', id: 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w' },
      data: {},
    })
    expect(auditLine(out, create)).toBe(
      '2026-12-01T10:00:00.000Z  success  agent.create  local:alice  support-bot',
    )
    // Without a name (an anonymous request), the trail's own values.
    expect(auditLine(out, event({ actor: 'anonymous', agent_id: null, agent_name: null }))).toContain(
      '  anonymous  gpt-4o-mini 200',
    )
  })

  it('usage piped is a report with its header and total; an empty one says so on stderr', () => {
    const report: UsageReport = {
      by: 'agent',
      since: null,
      until: null,
      rows: [
        {
          key: 'support-bot',
          requests: 8,
          input_tokens: 110,
          output_tokens: 212,
          cost_micros: 374,
          unpriced_requests: 0,
        },
      ],
      total: {
        key: 'total',
        requests: 8,
        input_tokens: 110,
        output_tokens: 212,
        cost_micros: 374,
        unpriced_requests: 0,
      },
    }
    const { out, stdout } = piped()
    printUsage(out, report)
    expect(stdout.text()).toBe(
      'AGENT\tREQUESTS\tINPUT TOKENS\tOUTPUT TOKENS\tCOST\nsupport-bot\t8\t110\t212\t$0.000374\ntotal\t8\t110\t212\t$0.000374\n',
    )
  })

  it('the demo summary is for people: headers, then a sentence per agent saying what happened', () => {
    const agent = {
      requests: 0,
      ok: 0,
      refused_budget: 0,
      blocked_safety: 0,
      blocked_categories: [],
      other_errors: 0,
      spent_micros: 0,
      limit_micros: 5_000_000,
    }
    const summary: DemoSummary = {
      store: '/tmp/demo.db',
      kept: false,
      gateway: 'http://127.0.0.1:1',
      seconds: 15,
      audit_verified: true,
      agents: [
        { ...agent, agent: 'support-bot', requests: 8, ok: 8, spent_micros: 374 },
        {
          ...agent,
          agent: 'batch-summarizer',
          requests: 20,
          ok: 7,
          refused_budget: 13,
          spent_micros: 2_100,
          limit_micros: 3_000,
        },
        {
          ...agent,
          agent: 'careless-bot',
          requests: 3,
          blocked_safety: 3,
          blocked_categories: ['prompt_injection'],
          limit_micros: 1_000_000,
        },
      ],
    }
    const { out, stdout } = piped()
    printDemoSummary(out, summary)
    const lines = stdout.text().split('\n')
    expect(lines[0]).toBe('AGENT\tREQUESTS\tOK\tOVER BUDGET\tBLOCKED\tSPENT\tLIMIT')
    expect(lines[1]).toBe('support-bot\t8\t8\t0\t0\t$0.000374\t$5.00')
    expect(lines.slice(5).filter(Boolean)).toEqual([
      'support-bot made 8 requests and stayed within budget: $0.000374 of its $5.00 limit.',
      "batch-summarizer ran out of budget: with $0.0021 of its $0.003 limit spent, what was left could not cover a request's worst case, so 13 requests were refused (402 budget_exceeded) before reaching the provider.",
      'The firewall blocked 3 requests of careless-bot for prompt injection; nothing was sent to the provider or charged for them.',
    ])
  })

  it('tokens say their kind: an agent’s own, or an iron run’s', () => {
    const token = (over: Partial<IcToken>): IcToken => ({
      id: 'ic_01jd8x4k3m5n6p7q8r9s0t1v2w',
      agent_id: 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
      agent_name: 'support-bot',
      kind: 'agent',
      prefix: 'iron_ic_abcd',
      status: 'live',
      created_at: '2026-12-01T10:00:00.000Z',
      expires_at: null,
      revoked_at: null,
      revoke_reason: null,
      last_used_at: null,
      ...over,
    })
    const tokens = [
      token({}),
      token({
        id: 'ic_01jd8x4k3m5n6p7q8r9s0t1v2x',
        kind: 'run',
        prefix: 'iron_ic_efgh',
        expires_at: '2026-12-01T10:02:00.000Z',
      }),
    ]
    const stdout = stream(true)
    new Output(stdout, stream(true), { NO_COLOR: '1' }).table(tokens, tokenColumns)
    const [header, own, run] = stdout.text().split('\n')
    expect(header).toMatch(/^AGENT\s+KIND\s+PREFIX\s+STATUS/)
    expect(own).toMatch(/^support-bot\s+agent\s+iron_ic_abcd…\s+live/)
    expect(run).toMatch(/^support-bot\s+run\s+iron_ic_efgh…\s+live/)
    // Piped, for cut and awk: the kind is the second field.
    const { out, stdout: piped_ } = piped()
    out.table(tokens, tokenColumns)
    expect(
      piped_
        .text()
        .split('\n')
        .map((line) => line.split('\t')[1]),
    ).toEqual(['agent', 'run', undefined])
    printToken(out, tokens[1]!)
    expect(piped_.text()).toContain('Kind\trun\n')
  })
})
