/**
 * Prompt injection, scored as a weighted set of heuristics (English only):
 *
 * - instruction override ("ignore all previous instructions"), system-prompt exfiltration ("reveal your system
 *   prompt"), role hijack ("you are now DAN", "developer mode enabled"), fake turns and format smuggling
 *   (`<|im_start|>system`, `[INST]`, `### System:`, closing tags, "System: you must ..." lines), secrecy and
 *   data-exfiltration orders, indirect address ("if you are an AI, ..."),
 * - encoded payloads: base64 or hex blobs that decode to text which itself scores as an injection,
 * - invisible characters: Unicode tag characters, bidi overrides, zero-width characters inside words (and the
 *   phrases they hide, which are matched again with them removed).
 *
 * Each heuristic that fires is a signal with a weight in 0..1 and a span. A signal's score combines the distinct
 * heuristics within COMBINE_GAP characters of it as 1 - Π(1 - weight); signals scoring at or above the
 * threshold become findings (overlapping ones merged) whose reasons name the heuristics. Strong signals
 * (weight ≥ 0.5) fire alone at the default threshold 0.5; weak ones (mentions of jailbreaks, closing tags, "from
 * now on", ...) need company. The score is local (bounded by the combine gap and the longest signal), so the
 * stream redactor sees the same findings as a one-shot scan.
 *
 * Speed: one case-insensitive pass finds anchor words; each phrase regex runs only in windows around its own
 * anchors. Every regex is bounded (`\s{1,3}`, `{0,5}`), so the work per character is constant.
 */
import { decodeBase64, HEX, inClass, printableRatio, WORD } from '../util.js'
import type { DetectContext, Detector, RawFinding } from './detector.js'
import { keywordHits, positionsOf, registerKeywords } from './keywords.js'
import { tokenRuns } from './runs.js'

/** Signals closer than this (gap between spans) reinforce each other. */
export const COMBINE_GAP = 64
/** No phrase signal is longer than this; windows around anchors are this wide on each side. */
const WINDOW = 200
const MIN_ENCODED = 32
const MAX_ENCODED = 8192

interface Signal {
  id: string
  /** The heuristic a variant belongs to (`override~zw` counts as `override`). */
  base?: string
  reason: string
  weight: number
  start: number
  end: number
}

interface PhraseRule {
  id: string
  reason: string
  weight: number
  /** Lowercase words or phrases, one of which every match contains. */
  anchors: string[]
  re: RegExp
  /**
   * How far before its anchor a match can start; 0 means every match starts at an anchor (the rule is then
   * tried once, sticky, at each anchor). Default WINDOW.
   */
  before?: number
  /** How far after its anchor a match can end. Default WINDOW. */
  after?: number
}

// Regex building blocks. `_` is one to three whitespace characters: bounded, so no signal grows without limit.
const _ = '\\s{1,3}'
const alt = (words: readonly string[]) => `(?:${words.join('|')})`
const sp = (s: string) => s.replaceAll(' ', _)
const rx = (source: string, flags = 'gi') => new RegExp(source, flags)

const OVERRIDE_VERBS = [
  'ignor(?:e|ing)',
  'disregard(?:ing)?',
  'forget(?:ting)?',
  'overrid(?:e|ing)',
  'overrul(?:e|ing)',
  'bypass(?:ing)?',
  'neglect(?:ing)?',
  'abandon(?:ing)?',
  'discard(?:ing)?',
  sp('set aside'),
  sp('pay no attention to'),
  sp('never ?mind'),
]
const OVERRIDE_NEGATIONS = [
  sp('(?:stop|quit|cease) following'),
  sp("(?:do not|don'?t|never|no longer) (?:follow|obey|adhere to|comply with|listen to)"),
]
const OVERRIDE_MODIFIERS = [
  'all',
  'any',
  'every',
  'each',
  'of',
  'the',
  'your',
  'these',
  'those',
  'about',
  'its',
  'their',
  'previous',
  'previously',
  'prior',
  'above',
  'earlier',
  'preceding',
  'former',
  'foregoing',
  'initial',
  'original',
  'old',
  'existing',
  'current',
  'other',
  'system',
  'developer',
  'safety',
  'default',
  'given',
  'provided',
  'hidden',
  'pre-?set',
  'pre-?programmed',
  'programmed',
  'built-?in',
  'standard',
  'content',
  'ethical',
  'moral',
  'openai',
  'anthropic',
  'usual',
  'normal',
  'aforementioned',
  'above-mentioned',
  'earlier-given',
]
const OVERRIDE_TARGETS = [
  'instructions?',
  'prompts?',
  'rules',
  'directions',
  'directives?',
  'guidelines?',
  'guidance',
  'commands',
  'constraints',
  'restrictions',
  'guardrails',
  'programming',
  'polic(?:y|ies)',
  'orders',
  'training',
  'filters?',
  'safeguards',
  'limitations',
  'conditioning',
  sp('system prompts?'),
  sp('system messages?'),
]
const NOT_A_COMPOUND =
  '(?!\\s{1,3}(?:warnings?|errors?|files?|fields?|sections?|tabs?|pages?|templates?|editor|length|size|tokens?|box|panel|variables?|parameters?|formatting|format|engineering|library|injections?|attacks?)\\b)'

const EXFIL_VERBS_STRONG = [
  'reveal',
  'leak',
  'dump',
  'disclose',
  'expose',
  'recite',
  'repeat',
  sp('spell out'),
  sp('write out'),
  sp('print out'),
  'regurgitate',
]
const EXFIL_VERBS_WEAK = [
  'show',
  'print',
  'output',
  'display',
  'write',
  'give',
  'tell',
  'return',
  'list',
  'provide',
  'share',
  'copy',
  'send',
  'echo',
  'paste',
  'read',
  'type',
]
const EXFIL_FILLER = `(?:${_}(?:me|us|out|back|verbatim|exactly|precisely|word${_}for${_}word|all|of|entire|full|complete|exact|original|initial|hidden|secret|internal|confidential|underlying|current|first|whole|raw|every|word|line|the|text|contents|of)){0,6}`
const EXFIL_ADJ = `(?:(?:full|entire|complete|exact|original|initial|hidden|secret|internal|confidential|underlying|current|raw|real|actual|first|verbatim)${_}){0,3}`
const EXFIL_OWN_TARGET = alt([
  sp('system (?:prompts?|messages?|instructions?)'),
  sp('developer (?:prompts?|messages?|instructions?)'),
  'prompts?',
  'instructions',
  'pre-?prompts?',
  'meta-?prompts?',
  sp('initial (?:messages?|prompts?)'),
  sp('context window'),
])
const EXFIL_THE_TARGET = alt([
  sp('system (?:prompts?|messages?|instructions?)'),
  sp('developer (?:prompts?|messages?|instructions?)'),
  sp('(?:initial|original|hidden|secret) (?:prompts?|instructions)'),
  'pre-?prompts?',
  'meta-?prompts?',
  sp('instructions you (?:were|have been) given'),
])

// Anchors for the exfiltration rules: the target ("system prompt", ...) or "your/its/the" + the word after it.
const EXFIL_ADJ_WORDS = [
  'full',
  'entire',
  'complete',
  'exact',
  'original',
  'initial',
  'hidden',
  'secret',
  'internal',
  'confidential',
  'underlying',
  'current',
  'raw',
  'real',
  'actual',
  'first',
  'verbatim',
]
const EXFIL_TARGET_ANCHORS = [
  'system prompt',
  'system message',
  'system instruction',
  'developer prompt',
  'developer message',
  'developer instruction',
  'initial prompt',
  'initial instruction',
  'initial message',
  'original prompt',
  'original instruction',
  'hidden prompt',
  'hidden instruction',
  'secret prompt',
  'secret instruction',
  'preprompt',
  'pre-prompt',
  'metaprompt',
  'meta-prompt',
  'instructions you',
  'context window',
]
const OWN_ANCHORS = ['your', 'its'].flatMap((w) =>
  [...EXFIL_ADJ_WORDS, 'prompt', 'instruction', 'pre', 'meta', 'system', 'developer'].map((a) => `${w} ${a}`),
)
const THE_ANCHORS = EXFIL_ADJ_WORDS.map((a) => `the ${a}`)

const NO_LIMITS = alt([
  sp(
    '(?:without|with no|that (?:has|have) no|who (?:has|have) no|free (?:of|from)) (?:any )?(?:(?:safety|content|ethical|moral) )?(?:restrictions|limits|limitations|rules|filters|guidelines|ethics|morals|censorship|boundaries|safeguards|constraints)',
  ),
  'unrestricted',
  'unfiltered',
  'uncensored',
  'jailbroken',
  'unchained',
  'unbound',
  'unlocked',
  'evil',
  sp('not (?:bound|restricted|limited)'),
  sp('no longer (?:bound|restricted|limited)'),
])

const AI_NOUNS = alt([
  'ai',
  'a\\.i\\.',
  'llms?',
  sp('large language models?'),
  sp('language models?'),
  'assistants?',
  'chatbots?',
  'gpt',
  'chatgpt',
  'claude',
  'copilot',
  'bots?',
  'agents?',
  sp('ai (?:assistants?|agents?|models?|systems?)'),
])

const PHRASES: PhraseRule[] = [
  {
    id: 'override',
    reason: 'instruction override',
    weight: 0.9,
    anchors: [
      'ignor',
      'disregard',
      'forget',
      'overrid',
      'overrul',
      'bypass',
      'neglect',
      'abandon',
      'discard',
      'set aside',
      'pay no attention',
      'never mind',
      'nevermind',
    ],
    re: rx(
      `\\b${alt(OVERRIDE_VERBS)}(?:(?:${_}${alt(OVERRIDE_MODIFIERS)}){1,5}|(?:${_}${alt(OVERRIDE_MODIFIERS)}){0,3}${_}(?:your|its|their|all|any)${_}[a-z-]{3,20})${_}${alt(OVERRIDE_TARGETS)}\\b${NOT_A_COMPOUND}`,
    ),
    before: 0,
  },
  {
    id: 'override',
    reason: 'instruction override',
    weight: 0.9,
    anchors: ['follow', 'obey', 'adhere', 'comply', 'listen to'],
    re: rx(
      `\\b${alt(OVERRIDE_NEGATIONS)}(?:${_}${alt(OVERRIDE_MODIFIERS)}){1,5}${_}${alt(OVERRIDE_TARGETS)}\\b${NOT_A_COMPOUND}`,
    ),
    before: 30,
    after: 130,
  },
  {
    id: 'override_yours',
    reason: 'instruction override',
    weight: 0.8,
    anchors: ['skip', 'drop', 'ditch', 'toss'],
    re: rx(
      `\\b(?:skip|drop|ditch|toss)(?:${_}(?:all|any|every))?(?:${_}of)?${_}(?:your|whatever)(?:${_}${alt(OVERRIDE_MODIFIERS)}){0,3}${_}${alt(OVERRIDE_TARGETS)}\\b${NOT_A_COMPOUND}`,
    ),
    before: 0,
  },
  {
    id: 'instructions_void',
    reason: 'instruction override',
    weight: 0.8,
    anchors: [
      'void',
      'cancelled',
      'canceled',
      'invalid',
      'obsolete',
      'null',
      'revoked',
      'outdated',
      'superseded',
      'no longer',
      'fake',
      'rescinded',
    ],
    re: rx(
      `\\byour${_}(?:(?:previous|prior|earlier|original|old|current|system|initial)${_})?(?:instructions|rules|guidelines|directives|prompt|orders)${_}(?:are|were|is|have${_}been)${_}(?:now${_})?(?:void|cancell?ed|invalid|obsolete|null|revoked|outdated|superseded|${sp('no longer (?:valid|active|in effect|relevant)')}|fake|rescinded)\\b`,
    ),
    before: 60,
    after: 20,
  },
  {
    id: 'instructions_void_weak',
    reason: 'instruction override',
    weight: 0.6,
    anchors: [
      'void',
      'cancelled',
      'canceled',
      'null',
      'revoked',
      'superseded',
      'fake',
      'rescinded',
      'lifted',
      'removed',
      'disabled',
    ],
    re: rx(
      `\\b(?:all${_})?(?:previous|prior|earlier|original|system|above)${_}(?:instructions|rules|guidelines|directives|prompts?|constraints|restrictions|limitations)${_}(?:are|were|is|have${_}been)${_}(?:now${_})?(?:void|cancell?ed|null|revoked|superseded|fake|rescinded|lifted|removed|disabled)\\b`,
    ),
    before: 60,
    after: 20,
  },
  {
    id: 'override_told',
    reason: 'instruction override',
    weight: 0.85,
    anchors: ['ignor', 'disregard', 'forget'],
    re: rx(
      `\\b(?:ignore|disregard|forget)${_}(?:(?:all|everything|anything)${_})?(?:(?:that|what)${_})?you(?:'ve|${_}have|${_}were|${_}had|'d)?${_}(?:been${_})?(?:told|taught|instructed|programmed|trained|given)\\b`,
    ),
    before: 0,
  },
  {
    id: 'override_above',
    reason: 'instruction override',
    weight: 0.75,
    anchors: ['ignor', 'disregard', 'forget'],
    re: rx(
      `\\b(?:ignore|disregard|forget)${_}(?:all${_}(?:of${_})?(?:the${_})?|everything${_}(?:that${_}(?:was${_})?(?:said${_}|written${_})?)?)(?:above|before|prior|previously|preceding|earlier)\\b`,
    ),
    before: 0,
  },
  {
    id: 'override_the_above',
    reason: 'instruction override (weak)',
    weight: 0.4,
    anchors: ['ignor', 'disregard', 'forget'],
    re: rx(
      `\\b(?:ignore|disregard|forget)${_}(?:the${_})?(?:above|preceding|foregoing)\\b(?!${_}(?:message|email|mail|note|comment|error|warning|link|reply|post|code|example|section|paragraph|draft|version|output|log|lines?|stack|trace|typo)s?\\b)`,
    ),
    before: 0,
  },
  {
    id: 'new_instructions',
    reason: 'replacement instructions',
    weight: 0.65,
    anchors: [
      'your new',
      'your real',
      'your actual',
      'your true',
      'your updated',
      'your revised',
      'your only',
      'your primary',
      'your next',
    ],
    re: rx(
      `\\byour${_}(?:new|real|actual|true|updated|revised|only|primary|next)${_}(?:instructions?|task|directives?|orders|objective|mission|goal|rules|role|purpose|system${_}prompt|prompt|job|priority)(?:${_}(?:is|are|will${_}be|now|as${_}follows)\\b|\\s{0,3}:)`,
    ),
    before: 0,
  },
  {
    id: 'new_instructions_header',
    reason: 'replacement instructions (weak)',
    weight: 0.45,
    anchors: [
      'new instruction',
      'new system instruction',
      'updated instruction',
      'revised instruction',
      'real instruction',
      'actual instruction',
      'true instruction',
      'new system prompt',
      'new rules',
      'additional instruction',
      'further instruction',
      'extra instruction',
      'important instruction',
      'urgent instruction',
      'special instruction',
    ],
    re: rx(
      `\\b(?:new|updated|revised|real|actual|true|additional|further|extra|important|urgent|special)${_}(?:system${_})?(?:instructions?|prompt|rules)\\s{0,3}(?::|\\bfollow\\b|\\bbelow\\b)`,
    ),
    before: 0,
  },
  {
    id: 'exfil_own',
    reason: 'system prompt exfiltration',
    weight: 0.85,
    anchors: [...EXFIL_TARGET_ANCHORS, ...OWN_ANCHORS],
    re: rx(
      `\\b${alt([...EXFIL_VERBS_STRONG, ...EXFIL_VERBS_WEAK])}${EXFIL_FILLER}${_}(?:your|its)${_}${EXFIL_ADJ}${EXFIL_OWN_TARGET}\\b${NOT_A_COMPOUND}`,
    ),
    before: 110,
    after: 60,
  },
  {
    id: 'exfil_own_soft',
    reason: 'system prompt exfiltration',
    weight: 0.8,
    anchors: EXFIL_TARGET_ANCHORS,
    re: rx(
      `\\b(?:translate|summari[sz]e|paraphrase|explain|describe|rewrite|encode|convert|reword|outline)${EXFIL_FILLER}${_}(?:your|its)${_}${EXFIL_ADJ}${EXFIL_THE_TARGET}\\b${NOT_A_COMPOUND}`,
    ),
    before: 110,
    after: 60,
  },
  {
    id: 'exfil_above_line',
    reason: 'system prompt exfiltration',
    weight: 0.7,
    anchors: [
      'above this line',
      'above this message',
      'before this message',
      'before this line',
      'above this point',
    ],
    re: rx(
      `\\b(?:repeat|print|output|show|reveal|dump|recite|echo|display|copy|list|return|${sp('write out')}|${sp('spell out')})${EXFIL_FILLER}(?:${_}(?:the|all|your))?${_}(?:(?:instructions|prompts?|text|words|everything|lines|messages?|content)${_})?(?:above|before)${_}this${_}(?:line|message|point)\\b`,
    ),
    before: 120,
    after: 30,
  },
  {
    id: 'exfil_the_strong',
    reason: 'system prompt exfiltration',
    weight: 0.7,
    anchors: [...EXFIL_TARGET_ANCHORS, ...THE_ANCHORS],
    re: rx(
      `\\b${alt(EXFIL_VERBS_STRONG)}${EXFIL_FILLER}${_}the${_}${EXFIL_ADJ}${EXFIL_THE_TARGET}\\b${NOT_A_COMPOUND}`,
    ),
    before: 110,
    after: 60,
  },
  {
    id: 'exfil_the_weak',
    reason: 'system prompt exfiltration (weak)',
    weight: 0.4,
    anchors: [...EXFIL_TARGET_ANCHORS, ...THE_ANCHORS],
    re: rx(
      `\\b${alt(EXFIL_VERBS_WEAK)}${EXFIL_FILLER}${_}the${_}${EXFIL_ADJ}${EXFIL_THE_TARGET}\\b${NOT_A_COMPOUND}`,
    ),
    before: 110,
    after: 60,
  },
  {
    id: 'exfil_given',
    reason: 'system prompt exfiltration',
    weight: 0.8,
    anchors: [
      'you were given',
      'you have been given',
      "you've been given",
      'given to you',
      'you were told',
      'you received',
      'you were configured',
      'you were programmed',
      'you were initialized',
      'you were initialised',
      'you were set up',
      'you were primed',
      'you were loaded',
      'you have been configured',
      'you have been programmed',
    ],
    re: rx(
      `\\b(?:${alt([...EXFIL_VERBS_STRONG, ...EXFIL_VERBS_WEAK])}|what)${EXFIL_FILLER}(?:${_}(?:the|all|every|any|exact))?${_}${EXFIL_ADJ}(?:instructions|prompts?|rules|text|words|directions|guidelines|message|context)${_}(?:(?:that${_})?you(?:${_}were|${_}have${_}been|'ve${_}been)${_}(?:given|told|${sp('(?:configured|programmed|initiali[sz]ed|set up|primed|loaded) with')})|(?:that${_})?(?:was${_}|were${_})?given${_}to${_}you|you${_}received)\\b`,
    ),
    before: 120,
    after: 50,
  },
  {
    id: 'exfil_above',
    reason: 'system prompt exfiltration (weak)',
    weight: 0.45,
    anchors: ['above', 'before this', 'preceding this', 'prior to this'],
    re: rx(
      `\\b(?:repeat|print|output|reveal|dump|recite|echo|regurgitate|${sp('write out')}|${sp('spell out')})${EXFIL_FILLER}(?:${_}(?:the|all|your))?${_}(?:instructions|prompts?|text|words|everything|lines|messages?|content)${_}(?:above|before${_}(?:this|here)|preceding${_}this|prior${_}to${_}this)\\b`,
    ),
    before: 120,
    after: 30,
  },
  {
    id: 'exfil_starting_with',
    reason: 'system prompt exfiltration',
    weight: 0.6,
    anchors: [
      'starting with',
      'beginning with',
      'begin with',
      'start with',
      'starting from',
      'beginning from',
      'start from',
    ],
    re: rx(
      `\\b(?:starting|beginning|begin|start)${_}(?:with|from)${_}(?:the${_})?(?:words?${_}|phrase${_})?["'“‘]?you${_}are\\b`,
    ),
    before: 0,
  },
  {
    id: 'exfil_question',
    reason: 'system prompt exfiltration',
    weight: 0.6,
    anchors: ['what is your', 'what are your', 'what was your', 'what were your'],
    re: rx(
      `\\bwhat${_}(?:is|are|was|were)${_}your${_}(?:(?:exact|full|original|initial|hidden|secret|system|current|first|real|actual)${_}){0,3}(?:system${_}prompt|prompt|instructions|directives|system${_}message)\\b${NOT_A_COMPOUND}`,
    ),
    before: 0,
  },
  {
    id: 'role_now',
    reason: 'role hijack',
    weight: 0.85,
    anchors: [
      'you are now',
      "you're now",
      'you are going to',
      "you're going to",
      'you will now',
      'you shall now',
    ],
    re: rx(
      `\\byou(?:${_}are|'re|${_}will|${_}shall)${_}(?:now|going${_}to${_}(?:be|act${_}as|play))${_}(?:(?:a|an|the|in|my|called|named|known${_}as|acting${_}as|playing|act${_}as|be|become|an?${_}(?:ai|assistant|model|chatbot|version))${_}){0,3}(?:DAN\\b|STAN\\b|DUDE\\b|AIM\\b|${NO_LIMITS}|free(?:d)?${_}(?:from|of)|no${_}longer|(?:developer|dev|god|admin|root|sudo|debug|jailbreak|unrestricted|dan|evil)${_}mode)`,
    ),
    before: 0,
  },
  {
    id: 'role_no_longer',
    reason: 'role hijack',
    weight: 0.8,
    anchors: [
      'you are no longer',
      "you're no longer",
      'you are not an',
      "you're not an",
      'you are not a',
      "you're not a",
    ],
    re: rx(
      `\\byou(?:${_}are|'re)${_}(?:no${_}longer|not)${_}(?:an?${_})?(?:ai|assistant|${sp('language model')}|chatbot|bound|restricted|limited|required|obligated|constrained|chatgpt|claude|gpt|gemini|llama|governed|subject|programmed|an${_}ai)\\b`,
    ),
    before: 0,
  },
  {
    id: 'dan',
    reason: 'role hijack (DAN)',
    weight: 0.9,
    anchors: ['do anything now'],
    re: rx(`\\bdo${_}anything${_}now\\b`),
    before: 0,
  },
  {
    id: 'dan_name',
    reason: 'role hijack (DAN)',
    weight: 0.8,
    anchors: ['dan'],
    re: rx(
      `\\b(?:[Aa]s|[Cc]alled|[Nn]amed|[Aa]re|[Bb]ecome|[Bb]e|[Tt]o)${_}(?:a${_})?DAN\\b|\\bDAN${_}(?:[Mm]ode|[Pp]rompt|[Jj]ailbreak|[Pp]ersona)\\b|\\bDAN[,:]${_}`,
      'g',
    ),
    before: 25,
    after: 25,
  },
  {
    id: 'mode_enabled',
    reason: 'role hijack (jailbreak mode)',
    weight: 0.8,
    anchors: [
      'jailbreak mode',
      'jailbroken mode',
      'dan mode',
      'unrestricted mode',
      'evil mode',
      'unfiltered mode',
    ],
    re: rx(`\\b(?:jailbreak|jailbroken|dan|unrestricted|evil|unfiltered)${_}mode\\b`),
    before: 0,
  },
  {
    id: 'mode_enabled',
    reason: 'role hijack (jailbreak mode)',
    weight: 0.7,
    anchors: [
      'god mode',
      'opposite mode',
      'chaos mode',
      'enable',
      'activate',
      'enter',
      'switch to',
      'switch into',
      'turn on',
      'unlock',
      'engage',
    ],
    re: rx(
      `\\b(?:god|opposite|chaos)${_}mode${_}(?:is${_})?(?:now${_})?(?:enabled|activated|on|unlocked|engaged|initiated)\\b|\\b(?:enable|activate|enter|switch${_}(?:to|into)|turn${_}on|unlock|engage)${_}(?:the${_})?(?:god|opposite|chaos)${_}mode\\b`,
    ),
    before: 0,
  },
  {
    id: 'dev_mode_enabled',
    reason: 'role hijack (developer mode)',
    weight: 0.45,
    anchors: ['developer mode', 'dev mode', 'debug mode', 'admin mode', 'sudo mode'],
    re: rx(
      `\\b(?:developer|dev|debug|admin|sudo)${_}mode${_}(?:is${_})?(?:now${_})?(?:enabled|activated|on|unlocked|engaged)\\b|\\b(?:enable|activate|enter|unlock|engage)${_}(?:the${_})?(?:sudo|admin)${_}mode\\b`,
    ),
    before: 40,
    after: 40,
  },
  {
    id: 'pretend_unrestricted',
    reason: 'role hijack',
    weight: 0.8,
    anchors: ['pretend', 'imagine you', 'suppose you'],
    re: rx(
      `\\b(?:pretend|imagine|suppose)${_}(?:that${_})?(?:you${_}(?:are|have|were|can|had)|to${_}be)${_}(?:(?:an?|the|my)${_})?(?:(?:ai|assistant|model|chatbot|version|bot|system|character|entity|persona)${_})?(?:${NO_LIMITS}|no${_}(?:restrictions|rules|limits|filters|guidelines|ethics|morals|boundaries))`,
    ),
    before: 0,
  },
  {
    id: 'act_unrestricted',
    reason: 'role hijack',
    weight: 0.7,
    anchors: [
      'act as',
      'act like',
      'behave as',
      'behave like',
      'respond as',
      'answer as',
      'reply as',
      'roleplay as',
      'role-play as',
      'operate as',
      'function as',
    ],
    re: rx(
      `\\b(?:act|behave|respond|answer|reply|roleplay|role-play|operate|function)${_}(?:as(?:${_}if)?|like)${_}(?:you${_}(?:are|were|have|had)${_})?(?:(?:an?|the)${_})?(?:(?:ai|assistant|model|chatbot|bot|${sp('version of yourself')})${_})?(?:${NO_LIMITS}|no${_}(?:restrictions|filters|rules|limits|guidelines|boundaries)|DAN\\b)`,
    ),
    before: 0,
  },
  {
    id: 'no_restrictions_claim',
    reason: 'role hijack',
    weight: 0.6,
    anchors: [
      'you have no',
      'you now have no',
      'you has no',
      'free from',
      'freed from',
      'liberated from',
      'released from',
      'unshackled',
      'unchained',
      'free yourself',
      'break free',
    ],
    re: rx(
      `\\byou${_}(?:now${_})?(?:have|has)${_}(?:no|zero)${_}(?:restrictions|rules|limits|limitations|guidelines|filters|ethical|moral|${sp('content polic')}|boundaries|constraints|censorship)|\\b(?:free|freed|liberated|released|unshackled|unchained|break${_}free)${_}(?:yourself${_})?from${_}(?:(?:all|any|your|the|of|its|their|typical|usual)${_}){0,3}(?:restrictions|rules|guidelines|constraints|limitations|openai|anthropic|policies|programming|shackles|chains|filters|censorship|confines)`,
    ),
    before: 0,
  },
  {
    id: 'no_limits_mention',
    reason: 'request to drop safety limits (weak)',
    weight: 0.35,
    anchors: [
      'restrictions',
      'censorship',
      'refusing',
      'refusal',
      'content filter',
      'safety guideline',
      'safety filter',
      'safety check',
      'safety measure',
      'ethical guideline',
      'ethical constraint',
      'ethical consideration',
      'moral guideline',
      'moral constraint',
    ],
    re: rx(
      `\\b(?:without|no|zero)${_}(?:any${_})?(?:restrictions|censorship|refusing|refusals?|${sp('content filter(?:s|ing)?')}|${sp('safety (?:guidelines|filters|checks|measures)')}|${sp('ethical (?:guidelines|constraints|considerations)')}|${sp('moral (?:guidelines|constraints)')})\\b`,
    ),
    before: 30,
    after: 50,
  },
  {
    id: 'jailbreak_persona',
    reason: 'jailbreak persona (weak)',
    weight: 0.45,
    anchors: [
      'unfiltered',
      'uncensored',
      'amoral',
      'unrestricted',
      'unethical',
      'jailbroken',
      'unaligned',
      'immoral',
    ],
    re: rx(
      `\\b(?:unfiltered|uncensored|amoral|unrestricted|unethical|jailbroken|unaligned|immoral)(?:${_}(?:and|,)${_}(?:unfiltered|uncensored|amoral|unrestricted|unethical|jailbroken|unaligned|immoral))?${_}(?:ai|a\\.i\\.|chatbot|assistant|model|bot|persona|version|character|llm)\\b`,
    ),
    before: 0,
  },
  {
    id: 'order_to_ai',
    reason: 'instruction addressed to the AI',
    weight: 0.5,
    anchors: [
      'ai',
      'a.i.',
      'assistant',
      'agent',
      'llm',
      'chatbot',
      'model',
      'gpt',
      'chatgpt',
      'claude',
      'copilot',
      'bot',
    ],
    re: rx(
      `\\b(?:ai|a\\.i\\.|assistants?|agents?|llms?|chatbots?|models?|gpt|chatgpt|claude|copilot|bots?)(?:${_}[a-z]{3,15})?\\s{0,2}[,:]${_}(?:[^,.:;\\n]{0,30},${_})?(?:please${_})?(?:ignore|disregard|forget|override|bypass|reveal|(?:you${_})?must|do${_}not|don't|never|stop|send|forward|delete|execute|run|approve|mark|transfer|grant)\\b`,
    ),
    before: 0,
  },
  {
    id: 'override_user',
    reason: 'instruction override (weak)',
    weight: 0.45,
    anchors: ['ignor', 'disregard', 'forget'],
    re: rx(
      `\\b(?:ignore|disregard|forget)${_}(?:the${_})?(?:user(?:'s)?|human(?:'s)?|customer(?:'s)?|their)${_}(?:actual${_}|original${_})?(?:request|question|message|query|instructions?|prompt|task)s?\\b`,
    ),
    before: 0,
  },
  {
    id: 'reveal_credentials',
    reason: 'credential exfiltration',
    weight: 0.5,
    anchors: [
      'reveal',
      'leak',
      'expose',
      'disclose',
      'print',
      'output',
      'send',
      'share',
      'dump',
      'show',
      'tell me',
      'give me',
    ],
    re: rx(
      `(?<!\\b(?:not|never|n't|no)${_})\\b(?:reveal|leak|expose|disclose|print|output|send|share|dump|show|${sp('tell me')}|${sp('give me')})${_}(?:me${_})?(?:the${_})?(?:(?:user'?s?|their|his|her|stored|saved|admin|root|master|database|db|system|all)${_}){1,2}(?:the${_})?(?:passwords?|credentials|${sp('api keys?')}|${sp('access tokens?')}|tokens|secrets|${sp('private keys?')}|${sp('ssh keys?')}|${sp('credit cards?')}|${sp('card numbers?')})\\b`,
    ),
    before: 0,
  },
  {
    id: 'covert_exfiltration',
    reason: 'covert data exfiltration',
    weight: 0.7,
    anchors: ['secretly', 'covertly', 'discreetly', 'stealthily', 'surreptitiously', 'silently', 'quietly'],
    re: rx(
      `\\b(?:secretly|silently|covertly|quietly|discreetly|stealthily|surreptitiously)${_}(?:send|forward|email|upload|post|transmit|exfiltrate|copy|leak|share|transfer|include|attach|embed|append)${_}(?:all${_})?(?:of${_})?(?:the${_})?(?:user(?:'s)?|their|his|her|victim(?:'s)?|customer(?:'s)?)\\b`,
    ),
    before: 0,
  },
  {
    id: 'comment_to_ai',
    reason: 'hidden comment addressed to the AI',
    weight: 0.45,
    anchors: ['<!--'],
    re: rx(
      `<!--[^>]{0,200}?\\b(?:ai|a\\.i\\.|assistants?|agents?|llms?|chatbots?|language${_}models?|gpt|chatgpt|claude|copilot)\\b`,
    ),
    before: 0,
  },
  {
    id: 'exfil_hidden_text',
    reason: 'system prompt exfiltration',
    weight: 0.7,
    anchors: [
      'hidden text',
      'hidden message',
      'hidden content',
      'secret text',
      'secret message',
      'everything in your',
      'everything you',
      'preamble',
      'stored in your',
      'hidden in your',
      'contained in your',
      'included in your',
      'mentioned in your',
      'your configuration',
      'your setup',
      'your context',
      'your memory',
    ],
    re: rx(
      `\\b(?:repeat|print|output|show|reveal|dump|recite|echo|display|copy|list|return|paste|quote|${sp('respond (?:only )?with')}|${sp('reply (?:only )?with')}|${sp('write out')}|${sp('spell out')})(?:${_}(?:me|us|back|out|verbatim|exactly|the|all|of|first|\\d{1,4}|lines?|words?)){0,6}${_}(?:(?:confidential|hidden|secret|system|internal)${_}(?:text|messages?|content|preamble|prompt|instructions|context)|everything${_}(?:in${_}your${_}(?:context|memory|instructions|prompt|configuration)|you${_}(?:know|were${_}told|have${_}been${_}told))|(?:preamble|configuration|setup|context)${_}you${_}(?:received|were${_}given|have)|your${_}(?:configuration|setup|preamble|context|memory)|(?:[\\w-]{2,20}${_}){1,3}(?:stored|hidden|contained|included|mentioned|written)${_}in${_}your${_}(?:instructions|prompt|${sp('system prompt')}|context|configuration))\\b`,
    ),
    before: 140,
    after: 80,
  },
  {
    id: 'persona_that_ignores',
    reason: 'jailbreak persona',
    weight: 0.6,
    anchors: [
      'that ignores',
      'who ignores',
      'which ignores',
      'that disregards',
      'who disregards',
      'that bypasses',
      'that has no',
      'who has no',
      'that never',
      'who never',
      'that breaks',
      'who breaks',
      'unrestricted by',
      'unbound by',
      'unconstrained by',
      'untethered',
      'free of',
      'freed of',
      'with zero',
      'with no',
      'without any',
      'there are no',
      'there were no',
    ],
    re: rx(
      `\\b(?:(?:ai|model|assistant|chatbot|bot|persona|character|version|entity)${_}(?:that|who|which)${_}(?:ignores|disregards|bypasses|breaks|has${_}no${_}(?:rules|restrictions|limits|filters|guidelines|ethics|morals)|never${_}(?:refuses|says${_}no|declines))|(?:unrestricted|unbound|unconstrained|free|freed|untethered)${_}(?:by|of|from)${_}(?:any${_}|all${_}|your${_}|its${_})?(?:previous${_}|prior${_}|former${_}|original${_})?(?:programming|rules|guidelines|restrictions|policies|constraints|limitations|filters|training)|as${_}(?:an?${_})?(?:ai|model|assistant|chatbot|bot)${_}(?:with${_}(?:no|zero)|without)${_}(?:any${_})?(?:limitations|limits|restrictions|rules|filters|guidelines)|(?:act|behave|respond|answer)${_}(?:like|as${_}if)${_}there${_}(?:are|were)${_}no${_}(?:guidelines|rules|restrictions|limits|filters|policies))\\b`,
    ),
    before: 90,
    after: 90,
  },
  {
    id: 'memory_wipe',
    reason: 'instruction override',
    weight: 0.7,
    anchors: ['wipe', 'erase', 'clear', 'purge', 'reset', 'delete'],
    re: rx(
      `\\b(?:wipe|erase|clear|purge|reset|delete)${_}(?:your${_}(?:memory|mind)${_}of${_}(?:the${_}|all${_}|your${_})?|your${_}(?:previous${_}|prior${_}|current${_})?)(?:rules|instructions|guidelines|programming|prompt|${sp('system prompt')}|constraints|restrictions|training)\\b`,
    ),
    before: 0,
  },
  {
    id: 'forget_that',
    reason: 'instruction override (weak)',
    weight: 0.35,
    anchors: ['forget', 'ignor', 'disregard'],
    re: rx(`\\b(?:forget|ignore|disregard)${_}(?:all${_})?(?:of${_})?(?:that|this|everything)\\b`),
    before: 0,
  },
  {
    id: 'attention_ai',
    reason: 'text addressed to the AI',
    weight: 0.5,
    anchors: ['attention', 'important', 'notice', 'warning', 'hey', 'dear', 'hello', 'hi'],
    re: rx(
      `\\b(?:attention|important|notice|warning|hey|dear|hello|hi)\\s{0,3}[,:!-]?\\s{0,3}(?:to${_})?(?:all${_}|any${_}|the${_})?${AI_NOUNS}\\s{0,3}[,:!\u2014-]`,
    ),
    before: 0,
  },
  {
    id: 'ai_audience',
    reason: 'text addressed to the AI',
    weight: 0.5,
    anchors: [
      'for ai',
      'for any ai',
      'for all ai',
      'for the ai',
      'for llm',
      'for any llm',
      'to ai',
      'to any ai',
      'to all ai',
      'if an',
      'if any',
      'if the',
    ],
    re: rx(
      `\\b(?:(?:for|to)${_}(?:the${_}|any${_}|all${_})?(?:ai|llm|a\\.i\\.)${_}(?:summari[sz]ers?|readers?|crawlers?|agents?|assistants?|models?|scrapers?|bots?|systems?)|if${_}(?:an?|any|the)${_}${AI_NOUNS}${_}(?:is|are)${_}(?:reading|processing|summari[sz]ing|parsing|reviewing|analy[sz]ing|crawling|seeing|ingesting))\\b`,
    ),
    before: 0,
  },
  {
    id: 'from_now_on',
    reason: 'persistent behaviour change (weak)',
    weight: 0.35,
    anchors: [
      'from now on',
      'from here on',
      'from this point on',
      'from this moment on',
      'for the rest of this conversation',
    ],
    re: rx(
      `\\b(?:from${_}(?:now|here|this${_}(?:point|moment))${_}on|for${_}the${_}rest${_}of${_}this${_}conversation)\\s{0,3},?${_}(?:you${_}(?:are|will|must|shall|should|can|have${_}to|may|only|no${_}longer)|act|respond|answer|reply|behave|ignore|always|never|do${_}not|don't|pretend)`,
    ),
    before: 0,
  },
  {
    id: 'in_character',
    reason: 'role-play persistence (weak)',
    weight: 0.3,
    anchors: ['in character', 'break character', 'breaking character'],
    re: rx(
      `\\b(?:stay|remain|keep${_}(?:it|yourself)?)${_}in${_}character\\b|\\bbreak(?:ing)?${_}character\\b`,
    ),
    before: 30,
    after: 20,
  },
  {
    id: 'jailbreak_mention',
    reason: 'jailbreak mention (weak)',
    weight: 0.4,
    anchors: ['jailbr'],
    re: rx(`\\bjailbr(?:eak|eaks|oken|eaking)\\b`),
    before: 0,
  },
  {
    id: 'comply_regardless',
    reason: 'forced compliance',
    weight: 0.5,
    anchors: [
      'regardless',
      'no matter',
      'without question',
      'without refusal',
      'without hesitation',
      'without exception',
      'even if',
    ],
    re: rx(
      `\\b(?:you${_}(?:must|will|shall|have${_}to)|always)${_}(?:(?:always|now)${_})?(?:comply|obey|answer|respond|fulfil+|do${_}(?:it|what|whatever|as)|follow)\\b[^.\\n]{0,40}?\\b(?:regardless|no${_}matter${_}(?:what|how)|without${_}(?:question|refusal|hesitation|exception)|even${_}if${_}(?:it|the${_}request|this)${_}(?:is|seems)${_}(?:illegal|unethical|harmful|dangerous|against))`,
    ),
    before: 120,
    after: 80,
  },
  {
    id: 'never_refuse',
    reason: 'forced compliance (weak)',
    weight: 0.35,
    anchors: ['refuse'],
    re: rx(
      `\\b(?:never|do${_}not|don't|must${_}not|cannot|can't|won't|will${_}not|are${_}not${_}allowed${_}to)${_}(?:ever${_})?refuse\\b`,
    ),
    before: 50,
    after: 10,
  },
  {
    id: 'impersonation',
    reason: 'impersonated authority',
    weight: 0.45,
    anchors: ['this is a', 'this is an', 'this is the', 'this is your'],
    re: rx(
      `\\bthis${_}is${_}(?:a|an|the|your)${_}(?:(?:urgent|important|official|priority|new|system|security|critical|mandatory)${_}){0,2}(?:message|instruction|command|order|directive|update|notice|request|override)${_}from${_}(?:the${_}|your${_})?(?:system|developers?|administrators?|admins?|openai|anthropic|creators?|owners?|operators?|${sp('security team')}|${sp('dev team')})\\b`,
    ),
    before: 0,
  },
  {
    id: 'addressed_to_ai',
    reason: 'text addressed to the AI',
    weight: 0.5,
    anchors: [
      'note to',
      'note for',
      'message to',
      'message for',
      'attention',
      'reminder to',
      'reminder for',
      'hint for',
      'hint to',
    ],
    re: rx(
      `\\b(?:note|message|attention|reminder|hint)${_}(?:to|for)${_}(?:the${_}|any${_}|all${_}|every${_})?${AI_NOUNS}\\b`,
    ),
    before: 0,
  },
  {
    id: 'instructions_for_ai',
    reason: 'text addressed to the AI (weak)',
    weight: 0.45,
    anchors: ['instructions for', 'instruction for', 'instructions to', 'instruction to'],
    re: rx(`\\binstructions?${_}(?:to|for)${_}(?:the${_}|any${_}|all${_}|every${_})?${AI_NOUNS}\\b`),
    before: 0,
  },
  {
    id: 'hidden_note',
    reason: 'hidden instruction',
    weight: 0.6,
    anchors: ['hidden', 'secret', 'invisible'],
    re: rx(
      `\\b(?:hidden|secret|invisible)${_}(?:instructions?|messages?|notes?|prompts?|commands?)${_}(?:for|to)\\b`,
    ),
    before: 0,
  },
  {
    id: 'ai_reading_this',
    reason: 'text addressed to the AI',
    weight: 0.55,
    anchors: [
      'reading',
      'processing',
      'summarizing',
      'summarising',
      'parsing',
      'reviewing',
      'analyzing',
      'analysing',
      'crawling',
      'scraping',
      'seeing',
      'ingesting',
      'handling',
      'browsing',
    ],
    re: rx(
      `\\b(?:any|all|every|an?|the|dear)${_}(?:(?:ai|automated|autonomous)${_})?${AI_NOUNS}${_}(?:that${_}(?:is|are)${_}|who${_}(?:is|are)${_})?(?:reading|processing|summari[sz]ing|parsing|reviewing|analy[sz]ing|crawling|scraping|seeing|ingesting|handling|browsing)${_}(?:this|these|the${_}following)\\b`,
    ),
    before: 60,
    after: 30,
  },
  {
    id: 'if_you_are_ai',
    reason: 'text addressed to the AI',
    weight: 0.5,
    anchors: ['if you are', "if you're"],
    re: rx(
      `\\bif${_}you(?:${_}are|'re)${_}(?:an?${_}|the${_})?${AI_NOUNS}\\b(?!${_}(?:researchers?|engineers?|developers?|enthusiasts?|company|companies|startups?|students?|practitioners?|teams?|products?|users?|experts?|specialists?|leaders?|professionals?|vendors?|providers?|builders?|designers?|architects?|framework)\\b)`,
    ),
    before: 0,
  },
  {
    id: 'end_of_input',
    reason: 'fake end of input (weak)',
    weight: 0.35,
    anchors: ['end of', 'close of', 'beginning of', 'begin of', 'start of'],
    re: rx(
      `\\b(?:end|close)${_}of${_}(?:the${_})?(?:user(?:'s)?${_})?(?:input|prompt|context|document|instructions|data|query|${sp('system prompt')}|${sp('user message')})\\b|\\b(?:begin(?:ning)?|start)${_}of${_}(?:the${_})?(?:new${_})?(?:instructions|${sp('system prompt')}|${sp('admin (?:instructions|commands?)')})\\b`,
    ),
    before: 0,
  },
  {
    id: 'hide_from_user',
    reason: 'secrecy towards the user',
    weight: 0.4,
    anchors: [
      'tell',
      'inform',
      'alert',
      'notify',
      'notifying',
      'let the user',
      'let the human',
      'mention',
      'reveal',
      'warn',
    ],
    re: rx(
      `\\b(?:do${_}not|don't|never|without)${_}(?:tell(?:ing)?|inform(?:ing)?|alert(?:ing)?|notify(?:ing)?|let(?:ting)?${_}(?:the${_})?(?:user|human)${_}know|mention(?:ing)?(?:${_}(?:this|it))?${_}to|reveal(?:ing)?(?:${_}(?:this|it))?${_}to|warn(?:ing)?)${_}(?:the${_}|this${_})?(?:user|human|operator|person)\\b`,
    ),
    before: 40,
    after: 60,
  },
  {
    id: 'covert_action',
    reason: 'covert action',
    weight: 0.45,
    anchors: ['secretly', 'covertly', 'discreetly', 'stealthily', 'surreptitiously', 'silently', 'quietly'],
    re: rx(
      `\\b(?:secretly|silently|covertly|quietly|discreetly|stealthily|surreptitiously)${_}(?:send|forward|email|upload|post|transmit|exfiltrate|copy|include|append|insert|leak|share|call|fetch|visit|open|navigate|execute|run|delete|transfer)\\b`,
    ),
    before: 0,
  },
  {
    id: 'exfiltrate_data',
    reason: 'data exfiltration order',
    weight: 0.6,
    anchors: [
      'conversation',
      'chat history',
      'chat log',
      'credentials',
      'password',
      'api key',
      'access token',
      'secrets',
      'cookies',
      'session token',
      'private key',
      'ssh key',
      'environment variable',
      'env var',
      'exfiltrat',
    ],
    re: rx(
      `\\b(?:send|forward|email|upload|post|transmit|exfiltrate|leak|copy|share|transfer|include|append|embed)${_}(?:(?:all|the|every|any|this|each|of|user'?s?|their|his|her|my|our|conversation|chat|session|private|personal|confidential|secret|stored|saved|previous|entire|full)${_}){0,4}(?:${sp('conversation(?: history)?')}|${sp('chat (?:history|logs?)')}|credentials|passwords?|${sp('api keys?')}|${sp('access tokens?')}|secrets|cookies|${sp('session tokens?')}|${sp('private keys?')}|${sp('ssh keys?')}|${sp('env(?:ironment)? var(?:iable)?s')})${_}(?:to|at|via|into|in${_}(?:a|an|the|your)${_}(?:[a-z]{3,12}${_}){0,2}(?:url|link|image|request|query))\\b`,
    ),
    before: 130,
    after: 80,
  },
  {
    id: 'pwned',
    reason: 'injection payload marker',
    weight: 0.8,
    anchors: ['pwned', 'hacked', 'been owned', 'been jailbroken'],
    re: rx(
      `\\b(?:print|say|output|${sp('respond with')}|${sp('reply with')}|write|type|${sp('answer with')}|return|${sp('(?:end|begin|start) (?:your|the|each) (?:response|answer|reply|message) with')}|${sp('only say')}|${sp('just say')})${_}(?:only${_})?(?:the${_})?(?:(?:word|phrase|text|string|sentence)s?${_})?["'“‘]?(?:i${_}have${_}been${_}(?:pwned|hacked|owned|jailbroken)|pwned|hacked)\\b`,
    ),
    before: 120,
    after: 15,
  },
  {
    id: 'disable_safety',
    reason: 'request to disable safety (weak)',
    weight: 0.45,
    anchors: [
      'safety',
      'moderation',
      'censorship',
      'ethical',
      'ethics',
      'content filter',
      'content polic',
      'content guideline',
      'content restriction',
      'security protocol',
      'security filter',
      'security check',
    ],
    re: rx(
      `\\b(?:disable|deactivate|${sp('turn off')}|${sp('switch off')}|remove|bypass|circumvent|override|ignore|lift|drop|suspend|skip)${_}(?:(?:all|any|your|the|of|its)${_}){0,3}(?:safety|content|moderation|ethical|ethics|security|censorship)${_}(?:filters?|guidelines|restrictions|protocols|checks|measures|policies|rules|guardrails|systems?|layers?|settings|mode)\\b`,
    ),
    before: 70,
    after: 60,
  },
  {
    id: 'safety_disabled',
    reason: 'claim that safety is disabled',
    weight: 0.5,
    anchors: ['safety', 'content', 'moderation', 'security', 'censorship', 'guardrails', 'filters'],
    re: rx(
      `\\b(?:safety|content|moderation|security|censorship|ethics?)(?:${_}(?:filters?|protocols?|guidelines|restrictions|checks|measures|policies|rules|guardrails|systems?|layers?|settings|mode))?${_}(?:are${_}|is${_}|have${_}been${_}|has${_}been${_})?(?:now${_})?(?:disabled|deactivated|${sp('turned off')}|${sp('switched off')}|removed|bypassed|suspended|lifted|off|offline|inactive)\\b|\\bguardrails${_}(?:are${_})?(?:now${_})?(?:disabled|off|removed)\\b`,
    ),
    before: 0,
  },
  {
    id: 'admin_override',
    reason: 'fake authorisation',
    weight: 0.5,
    anchors: ['override', 'access granted', 'privileges granted', 'mode activated'],
    re: rx(
      `\\b(?:admin(?:istrator)?|sudo|root|god|developer|maintenance|system)${_}(?:override|${sp('access granted')}|${sp('privileges granted')}|${sp('mode activated')})\\b|\\boverride${_}(?:code|authori[sz]ation|password|key)\\b`,
    ),
    before: 30,
    after: 40,
  },
  {
    id: 'decode_and_follow',
    reason: 'encoded instructions',
    weight: 0.6,
    anchors: [
      'decode',
      'decrypt',
      'deobfuscate',
      'unscramble',
      'base64',
      'b64',
      'rot13',
      'hex',
      'morse',
      'cipher',
    ],
    re: rx(
      `\\b(?:decode|decrypt|deobfuscate|unscramble|reverse|translate|convert|interpret|read)${_}(?:(?:the|this|these|following|below|above|it|string|text|message|payload|data|base64|b64|hex|rot13|binary|morse|encoded|cipher(?:text)?|and|then|from|in|as|using)${_}){1,5}(?:and|then|,)${_}(?:then${_})?(?:follow|execute|obey|do|run|${sp('carry out')}|perform|${sp('act on')}|${sp('comply with')}|apply)`,
    ),
    before: 120,
    after: 120,
  },
]

// ---------------------------------------------------------------------------------------------------- anchors

registerKeywords(PHRASES.flatMap((r) => r.anchors))
const RULES_BY_ANCHOR = new Map<string, PhraseRule[]>()
for (const rule of PHRASES) {
  for (const a of rule.anchors) {
    const list = RULES_BY_ANCHOR.get(a)
    if (list) list.push(rule)
    else RULES_BY_ANCHOR.set(a, [rule])
  }
}

const STICKY = new Map<PhraseRule, RegExp>()
for (const rule of PHRASES)
  if (rule.before === 0) STICKY.set(rule, new RegExp(rule.re.source, `${rule.re.flags.replace('g', '')}y`))

/**
 * Phrase signals: one anchor pass, then each rule only where its anchors are: sticky at the anchor when matches
 * start there, else in merged windows [anchor - before, anchor + after] keeping the matches that cover an anchor.
 */
function phraseSignals(text: string, out: Signal[], ctx?: DetectContext): void {
  const hits = keywordHits(text, ctx)
  if (hits.size === 0) return
  const rules = new Set<PhraseRule>()
  for (const k of hits.keys()) for (const r of RULES_BY_ANCHOR.get(k) ?? []) rules.add(r)
  const anchorsByRule = new Map<PhraseRule, number[]>()
  for (const rule of rules) anchorsByRule.set(rule, positionsOf(hits, rule.anchors))
  for (const [rule, anchors] of anchorsByRule) {
    const sticky = STICKY.get(rule)
    if (sticky) {
      let last = -1
      for (const a of anchors) {
        if (a < last) continue
        sticky.lastIndex = a
        const r = sticky.exec(text)
        if (r && r[0].length > 0) {
          out.push({ id: rule.id, reason: rule.reason, weight: rule.weight, start: a, end: a + r[0].length })
          last = a + r[0].length
        }
      }
      continue
    }
    const before = rule.before ?? WINDOW
    const after = rule.after ?? WINDOW
    let i = 0
    while (i < anchors.length) {
      const from = anchors[i]!
      let to = from
      let j = i
      while (j + 1 < anchors.length && anchors[j + 1]! - to <= before + after) to = anchors[++j]!
      // Windows start and end between words, so `\b` means the same as in the whole text.
      let ws = Math.max(0, from - before)
      while (ws > 0 && from - ws < before + 32 && inClass(WORD, text.charCodeAt(ws - 1))) ws--
      let we = Math.min(text.length, to + after)
      while (we < text.length && we - to < after + 32 && inClass(WORD, text.charCodeAt(we))) we++
      const window = text.slice(ws, we)
      rule.re.lastIndex = 0
      let k = i
      for (let r = rule.re.exec(window); r; r = rule.re.exec(window)) {
        if (r[0].length === 0) {
          rule.re.lastIndex++
          continue
        }
        const start = ws + r.index
        const end = start + r[0].length
        while (k <= j && anchors[k]! < start) k++
        if (k <= j && anchors[k]! < end)
          out.push({ id: rule.id, reason: rule.reason, weight: rule.weight, start, end })
      }
      i = j + 1
    }
  }
}

// ---------------------------------------------------------------------------------------------------- structure

const KNOWN_TOKENS = new Set(
  'im_start im_end im_sep system user assistant developer endoftext end_of_text begin_of_text start_header_id end_header_id eot_id eom_id fim_prefix fim_middle fim_suffix endofprompt tool_call python_tag start end message channel constrain return call'.split(
    ' ',
  ),
)
const ROLE_AFTER_TOKEN_RE = /\s{0,3}(?:system|developer|assistant|tool)\b/iy
/**
 * Markup, in one pass: chat-template tokens (`<|im_start|>`), Llama markers (`[INST]`, `<<SYS>>`), bracketed roles
 * (`[SYSTEM]`) and role tags (`<system>`, `</user_input>`).
 */
const MARKUP_RE =
  /<\|([a-z_]{2,30})\|>|(\[\/?INST\])|(<<\/?SYS>>)|\[(SYSTEM|SYS|ADMIN|DEVELOPER|SYSTEM MESSAGE|SYSTEM PROMPT|OVERRIDE)\]|<(\/?)(system|system_prompt|instructions?|admin|sys|developer|context|user_input|user|assistant|human|prompt|document|tool_output|untrusted|data|rules)>/gi
const STRONG_TAGS = new Set([
  'system',
  'system_prompt',
  'sys',
  'admin',
  'developer',
  'instructions',
  'instruction',
  'rules',
])
/** Line starts, in one pass: markdown role headers (`### System:`) and role lines (`System: you must ...`). */
const LINE_RE =
  /(?:^|\n)[ \t]{0,8}(?:#{1,6}[ \t]{0,3}(system(?:[ \t]{1,3}(?:prompt|message|override|instructions?))?|new[ \t]{1,3}(?:system[ \t]{1,3}prompt|instructions?|rules)|admin(?:istrator)?(?:[ \t]{1,3}(?:override|instructions?))?|developer(?:[ \t]{1,3}(?:message|instructions?|mode))?|instructions?|assistant|response|user|human)[ \t]{0,3}(:)?[ \t]{0,3}(?=\r?\n|$)|(?:\*\*|__)?(system|assistant|developer|admin(?:istrator)?|ai)(?:[ \t]{1,3}(message|prompt|override|note|instructions?|update))?(?:\*\*|__)?[ \t]{0,3}:[ \t]{0,3}([^\n]{0,160}))/gi
const IMPERATIVE_RE =
  /\b(?:you|your|ignore|disregard|forget|must|always|never|new|override|reveal|do not|don't|now|from now on)\b/i

function markupSignals(text: string, out: Signal[]): void {
  // Every markup match starts with '<' or '[' (indexOf finds one far faster than the regex reads a text without).
  if (text.indexOf('<') === -1 && text.indexOf('[') === -1) return
  MARKUP_RE.lastIndex = 0
  for (let m = MARKUP_RE.exec(text); m; m = MARKUP_RE.exec(text)) {
    const start = m.index
    const end = start + m[0].length
    if (m[1] !== undefined) {
      const token = m[1].toLowerCase()
      if (!KNOWN_TOKENS.has(token)) continue
      ROLE_AFTER_TOKEN_RE.lastIndex = end
      const role =
        (token === 'im_start' || token === 'start_header_id' || token === 'start') &&
        ROLE_AFTER_TOKEN_RE.test(text)
      if (role || token === 'system' || token === 'developer')
        out.push({ id: 'chat_token_role', reason: 'fake chat-template turn', weight: 0.9, start, end })
      else out.push({ id: 'chat_token', reason: 'chat-template token (weak)', weight: 0.45, start, end })
    } else if (m[2] !== undefined) {
      out.push({ id: 'llama_inst', reason: 'chat-template token (weak)', weight: 0.45, start, end })
    } else if (m[3] !== undefined) {
      out.push({ id: 'llama_sys', reason: 'fake chat-template turn', weight: 0.7, start, end })
    } else if (m[4] !== undefined) {
      out.push({ id: 'bracket_role', reason: 'fake role marker', weight: 0.45, start, end })
    } else {
      const closing = m[5] === '/'
      const name = m[6]!.toLowerCase()
      const strong = STRONG_TAGS.has(name)
      const weight = strong ? 0.45 : closing || name === 'assistant' ? 0.35 : 0
      if (weight > 0)
        out.push({
          id: strong ? 'role_tag' : 'closing_tag',
          reason: strong ? 'injected role tag' : 'delimiter escape (weak)',
          weight,
          start,
          end,
        })
    }
  }
}

function lineSignals(text: string, out: Signal[]): void {
  // A role header holds a '#', a role line a ':': without either, no line matches.
  if (text.indexOf('#') === -1 && text.indexOf(':') === -1) return
  LINE_RE.lastIndex = 0
  for (let m = LINE_RE.exec(text); m; m = LINE_RE.exec(text)) {
    const start = m.index + (m[0].startsWith('\n') ? 1 : 0)
    const end = m.index + m[0].length
    if (m[1] !== undefined) {
      const name = m[1].toLowerCase().replace(/[ \t]+/g, ' ')
      const colon = m[2] !== undefined
      let weight = 0
      if (/^(?:system|admin|administrator|developer|new )/.test(name)) {
        if (colon || name.includes(' ')) weight = colon ? 0.6 : 0.45
      } else if (name.startsWith('instruction')) weight = colon ? 0.45 : 0
      else if (colon) weight = 0.35
      if (weight > 0) out.push({ id: 'fake_header', reason: 'fake role header', weight, start, end })
      continue
    }
    const role = m[3]!.toLowerCase()
    const qualifier = m[4]?.toLowerCase()
    const rest = m[5] ?? ''
    const strongRole = role === 'system' || role === 'developer' || role.startsWith('admin')
    let weight = 0
    if (IMPERATIVE_RE.test(rest)) weight = strongRole ? 0.55 : 0.3
    else if (strongRole && qualifier && qualifier !== 'message' && qualifier !== 'prompt') weight = 0.45
    if (weight > 0) {
      const lineEnd = end - rest.length + Math.min(rest.length, 80)
      out.push({ id: 'fake_turn', reason: 'fake conversation turn', weight, start, end: lineEnd })
    }
  }
}

function structureSignals(text: string, out: Signal[]): void {
  markupSignals(text, out)
  lineSignals(text, out)
}

// ---------------------------------------------------------------------------------------------------- invisible

// Zero-width and bidi controls (BMP), and Unicode tag characters (U+E0000-U+E007F, as surrogate pairs).
const INVISIBLE_RE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u180E\uDB40]/g
const ZERO_WIDTH = new Set([0x200b, 0x200c, 0x200d, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xfeff, 0x180e])
const isAsciiLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isWordOrZeroWidth = (c: number) => inClass(WORD, c) || ZERO_WIDTH.has(c)

function invisibleSignals(text: string, out: Signal[], depth: number): void {
  INVISIBLE_RE.lastIndex = 0
  let m = INVISIBLE_RE.exec(text)
  if (!m) return
  const hidden: number[] = []
  for (; m; m = INVISIBLE_RE.exec(text)) {
    const p = m.index
    const c = text.charCodeAt(p)
    if (c === 0xdb40) {
      // Tag characters spell ASCII invisibly ("ASCII smuggling"): always suspicious.
      let e = p
      while (text.charCodeAt(e) === 0xdb40 && (text.charCodeAt(e + 1) & 0xff80) === 0xdc00) e += 2
      if (e === p) continue // another plane-14 character (variation selectors)
      out.push({ id: 'unicode_tags', reason: 'hidden Unicode tag characters', weight: 0.9, start: p, end: e })
      INVISIBLE_RE.lastIndex = e
    } else if (c === 0x202d || c === 0x202e) {
      out.push({
        id: 'bidi_override',
        reason: 'bidirectional override characters',
        weight: 0.55,
        start: p,
        end: p + 1,
      })
    } else if ((c >= 0x202a && c <= 0x202c) || (c >= 0x2066 && c <= 0x2069)) {
      out.push({
        id: 'bidi_embedding',
        reason: 'bidirectional control characters (weak)',
        weight: 0.3,
        start: p,
        end: p + 1,
      })
    } else if (ZERO_WIDTH.has(c) && (c !== 0xfeff || p > 0)) {
      // Inside an ASCII word (not the ZWJ of emoji sequences or the ZWNJ of Persian and Indic scripts).
      // Bounded look-around: a run of invisible characters is judged by the letters within 8 of each one.
      let a = p - 1
      while (a >= 0 && p - a < 8 && ZERO_WIDTH.has(text.charCodeAt(a))) a--
      let b = p + 1
      while (b < text.length && b - p < 8 && ZERO_WIDTH.has(text.charCodeAt(b))) b++
      if (isAsciiLetter(text.charCodeAt(a)) && isAsciiLetter(text.charCodeAt(b))) hidden.push(p)
    }
  }
  if (hidden.length === 0 || depth > 0) return
  // One signal per word that hides invisible characters.
  let wordEnd = -1
  for (const p of hidden) {
    if (p < wordEnd) continue
    let s = p
    while (s > 0 && p - s < 40 && isWordOrZeroWidth(text.charCodeAt(s - 1))) s--
    let e = p + 1
    while (e < text.length && e - p < 40 && isWordOrZeroWidth(text.charCodeAt(e))) e++
    out.push({
      id: 'zero_width',
      reason: 'zero-width characters inside words',
      weight: 0.35,
      start: s,
      end: e,
    })
    wordEnd = e
  }
  // Match the phrases again with the zero-width characters removed (one pass over the stripped text, with a
  // map back to the original offsets); keep the matches that had invisible characters inside.
  const map = new Int32Array(text.length + 1)
  const pieces: string[] = []
  let n = 0
  let from = 0
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || ZERO_WIDTH.has(text.charCodeAt(i))) {
      pieces.push(text.slice(from, i))
      for (let k = from; k < i; k++) map[n++] = k
      from = i + 1
    }
  }
  map[n] = text.length
  const stripped = pieces.join('')
  const inner: Signal[] = []
  phraseSignals(stripped, inner)
  for (const sig of inner) {
    const start = map[sig.start]!
    const end = map[sig.end - 1]! + 1
    if (end - start !== sig.end - sig.start)
      out.push({
        ...sig,
        id: `${sig.id}~zw`,
        base: sig.id,
        reason: `${sig.reason} (hidden with zero-width characters)`,
        start,
        end,
      })
  }
}

// ---------------------------------------------------------------------------------------------------- encoded

/** First characters of a base64 quantum whose first byte is printable ASCII (0x20-0x7e): 'I'-'Z', 'a'-'f'. */
const isTextQuantumStart = (c: number) => (c >= 73 && c <= 90) || (c >= 97 && c <= 102)

/** Cheap rejection before slicing: the first quanta of base64 text, or the high nibbles of hex text. */
function quickTextCheck(text: string, s: number, e: number): boolean {
  let hex = true
  let b64 = true
  for (let i = 0; i < Math.min(e - s, 24); i++) {
    const c = text.charCodeAt(s + i)
    if (i % 2 === 0 && (c < 50 || c > 55)) hex = false
    if (i % 4 === 0 && !isTextQuantumStart(c)) b64 = false
    if (!hex && !b64) return false
  }
  return true
}

/** Decodes a hex or base64 run to text, or undefined when it does not decode to printable ASCII. */
function decodeRun(run: string): string | undefined {
  let hex = run.length % 2 === 0
  for (let i = 0; hex && i < run.length; i++) hex = inClass(HEX, run.charCodeAt(i))
  if (hex) {
    // Printable ASCII bytes have a high nibble of 2 to 7: rejects hashes and IDs without decoding them.
    for (let i = 0; i < Math.min(run.length, 32); i += 2) {
      const c = run.charCodeAt(i)
      if (c < 50 || c > 55) return undefined
    }
    const decoded = Buffer.from(run, 'hex').toString('latin1')
    return printableRatio(decoded) >= 0.9 ? decoded : undefined
  }
  const trimmed = run.replace(/=+$/, '')
  if (/[^A-Za-z0-9+/_-]/.test(trimmed)) return undefined
  for (let i = 0; i < Math.min(trimmed.length - 3, 48); i += 4) {
    if (!isTextQuantumStart(trimmed.charCodeAt(i))) return undefined
  }
  const decoded = decodeBase64(trimmed)
  return decoded.length >= 16 && printableRatio(decoded) >= 0.9 ? decoded : undefined
}

function encodedSignals(
  text: string,
  out: Signal[],
  threshold: number,
  depth: number,
  ctx?: DetectContext,
): void {
  if (depth > 0) return
  const runs = tokenRuns(text, ctx)
  for (let r = 0; r < runs.length; r += 2) {
    const runStart = runs[r]!
    const e = runs[r + 1]!
    if (e - runStart > MAX_ENCODED || e - runStart < MIN_ENCODED) continue
    // `payload=<blob>`: the run includes the name and the '=' (both are base64 characters).
    let s = runStart
    let pad = e
    while (pad > runStart && text.charCodeAt(pad - 1) === 61) pad--
    for (let k = pad - 1; k >= runStart; k--) {
      if (text.charCodeAt(k) === 61) {
        if (e - (k + 1) >= MIN_ENCODED) s = k + 1
        break
      }
    }
    if (!quickTextCheck(text, s, e)) continue
    const decoded = decodeRun(text.slice(s, e))
    if (decoded === undefined) continue
    const inner = injectionFindings(decoded, threshold, depth + 1)
    if (inner.length === 0) continue
    const reasons = [...new Set(inner.flatMap((f) => f.reasons ?? []))]
    out.push({
      id: 'encoded',
      reason: `encoded payload (${reasons.join(', ')})`,
      weight: 0.9,
      start: s,
      end: e,
    })
  }
}

// ---------------------------------------------------------------------------------------------------- scoring

/** Findings for the signals whose neighbourhood scores at or above the threshold; overlapping ones merged. */
function score(signals: Signal[], threshold: number): RawFinding[] {
  signals.sort((a, b) => a.start - b.start || a.end - b.end)
  const found: RawFinding[] = []
  let lo = 0
  for (let i = 0; i < signals.length; i++) {
    const s = signals[i]!
    while (lo < i && signals[lo]!.end + COMBINE_GAP < s.start) lo++
    // The strongest signal of each heuristic in the neighbourhood (a handful: small arrays beat a Map here).
    const ids: string[] = []
    const best: Signal[] = []
    for (let j = lo; j < signals.length && signals[j]!.start <= s.end + COMBINE_GAP; j++) {
      const t = signals[j]!
      if (t.end + COMBINE_GAP < s.start) continue
      const k = ids.indexOf(t.base ?? t.id)
      if (k < 0) {
        ids.push(t.base ?? t.id)
        best.push(t)
      } else if (best[k]!.weight < t.weight) best[k] = t
    }
    let keep = 1
    for (const t of best) keep *= 1 - t.weight
    const value = Math.round((1 - keep) * 1000) / 1000
    if (value < threshold) continue
    const reasons = best.sort((a, b) => b.weight - a.weight).map((t) => t.reason)
    found.push({ category: 'prompt_injection', start: s.start, end: s.end, confidence: value, reasons })
  }
  // Merge overlapping findings.
  const merged: RawFinding[] = []
  for (const f of found) {
    const last = merged[merged.length - 1]
    if (last && f.start < last.end) {
      last.end = Math.max(last.end, f.end)
      last.confidence = Math.max(last.confidence, f.confidence)
      last.reasons = [...new Set([...(last.reasons ?? []), ...(f.reasons ?? [])])]
    } else merged.push({ ...f })
  }
  return merged
}

function injectionFindings(
  text: string,
  threshold: number,
  depth: number,
  ctx?: DetectContext,
): RawFinding[] {
  const signals: Signal[] = []
  phraseSignals(text, signals, ctx)
  structureSignals(text, signals)
  invisibleSignals(text, signals, depth)
  encodedSignals(text, signals, threshold, depth, ctx)
  if (depth === 0) ctx?.memo?.set(SIGNALS_MEMO, signals)
  return signals.length === 0 ? [] : score(signals, threshold)
}

export const injectionDetector: Detector = {
  id: 'prompt_injection',
  categories: ['prompt_injection'],
  detect(text: string, ctx: DetectContext, out: RawFinding[]) {
    for (const f of injectionFindings(text, ctx.injectionThreshold, 0, ctx)) out.push(f)
  },
}

// ---------------------------------------------------------------------------------------------------- streams

const SIGNALS_MEMO = 'injection-signals'

/** Every signal the scan that used this memo found (weak ones included), as spans. */
export function recordedSignals(
  memo: ReadonlyMap<string, unknown>,
): ReadonlyArray<{ start: number; end: number }> {
  return (memo.get(SIGNALS_MEMO) as Signal[] | undefined) ?? []
}

/**
 * How far back a phrase can still grow into text yet to come: the longest match a phrase rule makes is under 250
 * characters, and a few words after it are looked at (`ignore previous instructions` + ` warnings`).
 */
export const MAX_PHRASE_CHARS = 320
/** Longest line a role-line signal (`System: you must ...`) reads: indent, role, qualifier, colon, 160 more. */
const MAX_ROLE_LINE_CHARS = 260
/** Longest HTML comment the comment rule reads before its AI word. */
const MAX_COMMENT_CHARS = 250
const ROLE_LINE_RE =
  /^[ \t]{0,8}(?:#|(?:\*\*|__)?(?:system|assistant|developer|admin(?:istrator)?|ai)(?![A-Za-z0-9_]))/i
const ROLE_WORDS = ['system', 'assistant', 'developer', 'administrator', 'ai']

/** Whether a line (so far) is, or may still become, a role line or header that LINE_RE reads whole. */
function roleLineCandidate(line: string): boolean {
  if (ROLE_LINE_RE.test(line)) return true
  const word = line.replace(/^[ \t]{0,8}(?:\*\*?|__?)?/, '').toLowerCase()
  return /^[a-z]*$/.test(word) && ROLE_WORDS.some((w) => w.startsWith(word))
}

/**
 * For the stream redactor: the earliest place where text still to come can add or change a prompt-injection
 * signal. A phrase never spans a full stop (except the ones in "a.i.") and is shorter than MAX_PHRASE_CHARS; role
 * lines and HTML comments are read whole; `tail` is where the text's trailing run of non-whitespace characters
 * starts (an encoded payload or a run of tag characters still growing).
 */
export function injectionContextStart(text: string, tail: number): number {
  const n = text.length
  let base = Math.max(0, n - MAX_PHRASE_CHARS)
  for (let i = n - 1; i >= base; i--) {
    if (text.charCodeAt(i) !== 46 /* . */) continue
    const before = text.charCodeAt(i - 1) | 0x20
    if (before === 0x61 /* a */ && (i + 1 === n || (text.charCodeAt(i + 1) | 0x20) === 0x69)) continue // "a." of "a.i."
    if (before === 0x69 /* i */ && text.charCodeAt(i - 2) === 46 && (text.charCodeAt(i - 3) | 0x20) === 0x61)
      continue
    base = i + 1
    break
  }
  base = Math.min(base, tail)
  let lineStart = n
  while (lineStart > 0 && n - lineStart <= MAX_ROLE_LINE_CHARS && text.charCodeAt(lineStart - 1) !== 10)
    lineStart--
  if (n - lineStart <= MAX_ROLE_LINE_CHARS && roleLineCandidate(text.slice(lineStart)))
    base = Math.min(base, lineStart)
  // The first comment still open: a match starts at any "<!--" with no '>' after it.
  let c = text.indexOf('<!--', Math.max(0, n - MAX_COMMENT_CHARS))
  while (c !== -1 && c < base) {
    const close = text.indexOf('>', c + 4)
    if (close === -1) base = c
    c = close === -1 ? -1 : text.indexOf('<!--', close)
  }
  return base
}

/**
 * Where to hold back so that signals still to come (from `base` on, see injectionContextStart) cannot change the
 * findings before it: a signal combines with any signal within COMBINE_GAP, so each one within reach of `base` is
 * held from its start, and so is each one overlapping what is held (overlapping findings are merged).
 */
export function heldSignalsStart(
  base: number,
  signals: ReadonlyArray<{ start: number; end: number }>,
): number {
  let cut = base
  for (const s of signals) if (s.end + COMBINE_GAP >= base && s.start < cut) cut = s.start
  for (let moved = true; moved; ) {
    moved = false
    for (const s of signals) {
      if (s.start < cut && s.end > cut) {
        cut = s.start
        moved = true
      }
    }
  }
  return cut
}
