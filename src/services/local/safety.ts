import { usageError } from '../../core/errors.js'
import {
  DEFAULT_POLICY,
  type Direction,
  type EvaluatedFinding,
  evaluate,
  mergePolicy,
  type PartialSafetyPolicy,
  parsePartialPolicy,
  type SafetyPolicy,
} from '../../safety/index.js'
import type { AgentRow, AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import { getMeta, setMeta } from '../../store/meta.js'
import type { SafetyApi, SafetyPolicyView, SafetyScanResult } from '../api.js'
import { authorize } from '../authz.js'
import type { LocalAudit } from './audit.js'
import { findAgent } from './refs.js'

const META_KEY = 'safety_policy'

/**
 * Safety policies: the built-in default, the store's default on top of it (`iron safety policy set`), and an
 * agent's own on top of that (`iron agents update --safety-policy`). Each layer may set any categories.
 */
export class LocalSafety implements SafetyApi {
  constructor(
    private readonly db: Db,
    private readonly agents: AgentsRepo,
    private readonly audit: LocalAudit,
  ) {}

  /** The store's default policy changes, over the built-in one. */
  storeDefault(): PartialSafetyPolicy {
    const text = getMeta(this.db, META_KEY)
    return text ? parsePartialPolicy(JSON.parse(text)) : {}
  }

  /** The policy the gateway applies to an agent. */
  effectiveFor(agent: Pick<AgentRow, 'safety_policy'> | undefined): SafetyPolicy {
    const base = mergePolicy(DEFAULT_POLICY, this.storeDefault())
    const own = agent?.safety_policy ? parsePartialPolicy(JSON.parse(agent.safety_policy)) : undefined
    return own ? mergePolicy(base, own) : base
  }

  async getPolicy(options: { agent?: string } = {}): Promise<SafetyPolicyView> {
    authorize('safety.getPolicy')
    const agent = options.agent ? findAgent(this.agents, options.agent, { includeDeleted: true }) : undefined
    return {
      agent: agent?.name ?? null,
      policy: this.effectiveFor(agent),
      store_default: this.storeDefault(),
      agent_policy: agent?.safety_policy ? (JSON.parse(agent.safety_policy) as PartialSafetyPolicy) : null,
    }
  }

  /** Change the store's default policy: merged into it, or replacing it (`replace`). */
  async setDefault(change: unknown, options: { replace?: boolean } = {}): Promise<SafetyPolicyView> {
    authorize('safety.setDefault')
    const partial = parsePartialPolicy(change)
    return this.db
      .transaction(() => {
        const before = this.storeDefault()
        const next = options.replace ? partial : mergePartial(before, partial)
        mergePolicy(DEFAULT_POLICY, next)
        setMeta(this.db, META_KEY, JSON.stringify(next))
        this.audit.record({
          action: 'safety.policy_set',
          resource_type: 'safety_policy',
          resource_id: 'default',
          outcome: 'success',
          data: { before, after: next },
        })
        return {
          agent: null,
          policy: mergePolicy(DEFAULT_POLICY, next),
          store_default: next,
          agent_policy: null,
        }
      })
      .immediate()
  }

  /** Run the firewall on a text offline: what it finds and what the policy would do. */
  async scan(input: { text: string; direction?: Direction; agent?: string }): Promise<SafetyScanResult> {
    authorize('safety.scan')
    const direction = input.direction ?? 'input'
    if (direction !== 'input' && direction !== 'output')
      throw usageError('INVALID_DIRECTION', `Unknown direction '${direction}'`, 'Use input or output')
    const agent = input.agent ? findAgent(this.agents, input.agent, { includeDeleted: true }) : undefined
    const result = evaluate(input.text, direction, this.effectiveFor(agent))
    return {
      direction,
      agent: agent?.name ?? null,
      bytes: Buffer.byteLength(input.text),
      findings: result.findings.map(findingView),
      blocked: result.blocked,
      redacted: result.redacted,
      logged: result.logged,
      error: result.error ?? null,
      redacted_text: result.error ? null : result.text,
    }
  }
}

function mergePartial(a: PartialSafetyPolicy, b: PartialSafetyPolicy): PartialSafetyPolicy {
  return {
    ...a,
    ...b,
    input: { ...a.input, ...b.input },
    output: { ...a.output, ...b.output },
  }
}

export function findingView(f: EvaluatedFinding) {
  return {
    category: f.category,
    action: f.action,
    start: f.start,
    end: f.end,
    confidence: f.confidence,
    sha256: f.sha256,
    ...(f.reasons ? { reasons: f.reasons } : {}),
  }
}

/** Validate a policy given for an agent; returns the JSON stored on the agent. */
export function agentPolicyText(value: unknown): string | null {
  if (value === null || value === undefined) return null
  const parsed = parsePartialPolicy(typeof value === 'string' ? JSON.parse(value) : value)
  mergePolicy(DEFAULT_POLICY, parsed)
  return JSON.stringify(parsed)
}
