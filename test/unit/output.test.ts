import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { colorLevel, Output } from '../../src/cli/output.js'

function stream(tty: boolean, columns?: number) {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string }
  let text = ''
  s.write = ((chunk: string) => {
    text += chunk
    return true
  }) as never
  Object.assign(s, { isTTY: tty, columns, text: () => text })
  return s
}

const rows = [
  { id: 'agent_01', name: 'support-bot', limit: 50_250_000, created: Date.now() - 120_000 },
  { id: 'agent_02', name: 'a-rather-long-agent-name-that-does-not-fit', limit: 4_200, created: Date.now() },
]
const columns = [
  { header: 'ID', value: (r: (typeof rows)[0]) => r.id, kind: 'id' as const, shrink: false },
  { header: 'Name', value: (r: (typeof rows)[0]) => r.name },
  { header: 'Limit', value: (r: (typeof rows)[0]) => r.limit, kind: 'money' as const },
  { header: 'Created', value: (r: (typeof rows)[0]) => r.created, kind: 'time' as const },
]

describe('Output', () => {
  it('prints tab-separated full values with ISO times and no header when piped', () => {
    const out = stream(false)
    new Output(out, stream(false), {}).table(rows, columns)
    const lines = out.text().trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]!.split('\t')).toEqual([
      'agent_01',
      'support-bot',
      '$50.25',
      new Date(rows[0]!.created).toISOString(),
    ])
    expect(lines[1]).toContain('a-rather-long-agent-name-that-does-not-fit')
    expect(out.text()).not.toContain('\u001b[')
  })

  it('prints headers, relative times and truncates to the terminal width in a terminal', () => {
    const out = stream(true, 50)
    new Output(out, stream(true), { NO_COLOR: '1' }).table(rows, columns)
    const lines = out.text().trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+NAME\s+LIMIT\s+CREATED/)
    expect(lines[1]).toContain('2m ago')
    expect(lines[2]).toContain('…')
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(50)
    expect(out.text()).not.toContain('\u001b[')
  })

  it('says so on stderr when a listing is empty', () => {
    const out = stream(false)
    const err = stream(false)
    new Output(out, err, {}).table([], columns, 'No agents yet. Create one with: iron agents create <name>')
    expect(out.text()).toBe('')
    expect(err.text()).toContain('No agents yet')
  })

  it('prints nothing on stdout in --json mode', () => {
    const out = stream(true)
    const o = new Output(out, stream(true), {}, true)
    o.table(rows, columns)
    o.record([{ label: 'a', value: 1 }])
    o.line('x')
    expect(out.text()).toBe('')
  })

  it('decides colour from FORCE_COLOR, NO_COLOR, TERM=dumb and the terminal', () => {
    expect(colorLevel({}, true)).toBeGreaterThan(0)
    expect(colorLevel({}, false)).toBe(0)
    expect(colorLevel({ NO_COLOR: '1' }, true)).toBe(0)
    expect(colorLevel({ TERM: 'dumb' }, true)).toBe(0)
    expect(colorLevel({ FORCE_COLOR: '1' }, false)).toBe(1)
    expect(colorLevel({ FORCE_COLOR: '0' }, true)).toBe(0)
    expect(colorLevel({ FORCE_COLOR: '3', NO_COLOR: '1' }, false)).toBe(3)
  })
})
