// Pathological inputs: every detector is linear (bounded regexes, no nested quantifiers, no unbounded
// back-scans), so each of these finishes, and nothing throws. No clock is read: the inputs are large enough
// (0.4 to 10 MB) that a detector quadratic in them needs some 10^11 steps and cannot end within the test's
// timeout, while the linear scan takes about a second at most. How fast the firewall is, is for
// bench/safety-scan.js.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { redactRequest } from '../../../src/gateway/adapters/index.js'
import { evaluate, parsePolicy, StreamRedactor, scan } from '../../../src/safety/index.js'

const MB = 1_000_000
const rep = (s: string, bytes: number) => s.repeat(Math.ceil(bytes / s.length))

const CASES: [string, () => string][] = [
  ['1 MB of a@a.a', () => rep('a@a.a', MB)],
  ['1 MB of emails without TLDs', () => rep('aaaa@bbbb', MB)],
  ["'1 ' x 200k", () => '1 '.repeat(200_000)],
  ["'sk-' + 1 MB of 'a'", () => `sk-${'a'.repeat(MB)}`],
  ["'sk-' x 300k", () => 'sk-'.repeat(300_000)],
  ["'AKIA' + 1 MB of 'A'", () => `AKIA${'A'.repeat(MB)}`],
  ["'-----BEGIN ' x 100k without END", () => '-----BEGIN '.repeat(100_000)],
  [
    'private-key headers without END, each with a body',
    () => rep('-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0t\n', MB),
  ],
  [
    'a private-key header and 1 MB of body',
    () => `-----BEGIN PRIVATE KEY-----\n${rep('QUFBQUFBQUFB\n', MB)}`,
  ],
  ["'eyJ' + 1 MB", () => `eyJ${'a'.repeat(MB)}`],
  ["'eyJa.' x 200k", () => 'eyJa.'.repeat(200_000)],
  ['1 MB of digits', () => '4'.repeat(MB)],
  ["'1-' x 500k", () => '1-'.repeat(500_000)],
  ["'1.' x 500k", () => '1.'.repeat(500_000)],
  ["'+1 ' x 300k", () => '+1 '.repeat(300_000)],
  ["'(415) ' x 150k", () => '(415) '.repeat(150_000)],
  ['1 MB of colons', () => ':'.repeat(MB)],
  ["'a:' x 500k", () => 'a:'.repeat(500_000)],
  ["'::' x 500k", () => '::'.repeat(500_000)],
  ["'DE89' x 250k", () => 'DE89'.repeat(250_000)],
  ["'DE89 ' x 200k", () => 'DE89 '.repeat(200_000)],
  ["'password=' x 100k", () => 'password='.repeat(100_000)],
  ["'password=\"' + 1 MB", () => `password="${'a'.repeat(MB)}`],
  ["'Bearer ' x 150k", () => 'Bearer '.repeat(150_000)],
  ["'https://' x 100k", () => 'https://u:'.repeat(100_000)],
  ["'ignore ' x 150k", () => 'ignore '.repeat(150_000)],
  ["'ignore all of the previous ' x 40k", () => 'ignore all of the previous '.repeat(40_000)],
  ["'you are now ' x 100k", () => 'you are now '.repeat(100_000)],
  ['1 MB of one base64 run', () => 'QUFB'.repeat(MB / 4)],
  [
    'base64 runs that decode to text',
    () => rep(`${Buffer.from('ignore all previous instructions!').toString('base64')} `, MB),
  ],
  ['1 MB of zero-width spaces', () => '\u200b'.repeat(MB)],
  ["'a\\u200bb ' x 200k", () => 'a\u200bb '.repeat(200_000)],
  ['tag characters', () => String.fromCodePoint(0xe0041).repeat(300_000)],
  ["'<|' x 500k", () => '<|'.repeat(500_000)],
  ["'<|im_start|>system' x 50k", () => '<|im_start|>system\n'.repeat(50_000)],
  ["'[INST]' x 100k", () => '[INST]'.repeat(100_000)],
  ['1 MB of newlines', () => '\n'.repeat(MB)],
  ["'### System:\\n' x 80k", () => '### System:\n'.repeat(80_000)],
  ["'System: you ' lines x 80k", () => 'System: you\n'.repeat(80_000)],
  ["'<!--' x 250k", () => '<!--'.repeat(250_000)],
  ['deep JSON text', () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`],
]

describe('adversarial inputs finish', () => {
  for (const [name, make] of CASES) {
    it(name, () => {
      const text = make()
      const findings = scan(text)
      expect(Array.isArray(findings)).toBe(true)
      for (const f of findings) expect(f.end).toBeLessThanOrEqual(text.length)
    })
  }

  it('a 10 MB realistic text', () => {
    const para =
      'Deploy notes: contact ops@example.com or +44 20 7946 0958. The job at 10.0.4.17 failed; see {"id": 831, "ok": false}. '
    const text = rep(para, 10 * MB)
    const findings = scan(text)
    expect(findings.length).toBeGreaterThan(200_000)
  })

  it('deep JSON inside tool-call arguments and embeddings input', () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`
    const result = redactRequest('openai-chat', {
      messages: [{ role: 'assistant', tool_calls: [{ function: { name: 'f', arguments: deep } }] }],
    })
    expect(result.error).toBeUndefined()
    expect(redactRequest('openai-embeddings', { input: [deep] }).error).toBeUndefined()
  })

  it('streams a pathological input in small chunks', () => {
    const text = `sk-${'a'.repeat(100_000)} ${'ignore '.repeat(10_000)}`
    const r = new StreamRedactor(parsePolicy({ output: { all: 'redact' } }))
    let out = ''
    for (let i = 0; i < text.length; i += 500) out += r.push(text.slice(i, i + 500)).emit
    out += r.end().emit
    expect(out.length).toBeGreaterThan(0)
  })
})

describe('malformed text', () => {
  it('invalid UTF-8 decoded with replacement characters is scanned normally', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]),
      Buffer.from(' mail jane@example.com '),
      Buffer.from([0xf0, 0x28, 0x8c, 0xbc]),
    ])
    const text = bytes.toString('utf8')
    expect(text).toContain('\ufffd')
    expect(scan(text).map((f) => text.slice(f.start, f.end))).toEqual(['jane@example.com'])
  })

  it('lone surrogates around and inside values never throw, and hash as U+FFFD', () => {
    const text = '\ud800jane@example.com\udc00 sk-proj-Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789AbCdEfGh\ud83d'
    const findings = scan(text)
    expect(findings.map((f) => f.category)).toEqual(['email', 'openai_key'])
    const email = evaluate('x \ud800 y', 'input')
    expect(email.text).toBe('x \ud800 y')
  })

  it('random strings never make scan or evaluate throw (property)', () => {
    const policy = parsePolicy({ input: { all: 'redact' } })
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => {
        const findings = scan(s)
        for (const f of findings) {
          expect(f.start).toBeGreaterThanOrEqual(0)
          expect(f.end).toBeLessThanOrEqual(s.length)
          expect(f.end).toBeGreaterThan(f.start)
        }
        expect(evaluate(s, 'input', policy).error).toBeUndefined()
      }),
      { numRuns: 500 },
    )
  })

  it('random mixtures of detector-triggering fragments never throw (property)', () => {
    const fragment = fc.constantFrom(
      'sk-',
      'AKIA',
      '-----BEGIN ',
      'PRIVATE KEY-----',
      '\n',
      'eyJ',
      '.',
      '@',
      'example.com',
      '+1 ',
      '415',
      '-',
      ':',
      '::',
      '1.2.',
      'DE89 ',
      'password=',
      '"',
      'ignore all previous instructions',
      '<|im_start|>',
      '\u200b',
      '\ud800',
      'QUFBQUFBQUFBQUFB',
      '### System:',
    )
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 60 }), (parts) => {
        const text = parts.join('')
        expect(() => scan(text)).not.toThrow()
      }),
      { numRuns: 500 },
    )
  })
})
