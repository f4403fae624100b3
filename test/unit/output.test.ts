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

  describe('control characters from values (an agent, the store, a provider)', () => {
    const evil = 'mock-small\u001b]0;HACKED\u0007\u001b[2J\u009b2J\r'
    // Any control character but the tab and newline of the printer's own layout, and ESC only before SGR.
    const acting = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/
    const onlyColours = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '')
    const evilRows = [{ id: 'agent_01', name: evil, status: 'active', created: Date.now() }]
    const evilColumns = [
      { header: 'ID', value: (r: (typeof evilRows)[0]) => r.id, kind: 'id' as const },
      { header: 'Name', value: (r: (typeof evilRows)[0]) => r.name },
      { header: 'Status', value: (r: (typeof evilRows)[0]) => r.status, kind: 'status' as const },
    ]

    it('are escaped in tables and records, in a terminal with colour and when piped', () => {
      const tty = stream(true, 200)
      const piped = stream(false)
      const colour = new Output(tty, stream(true), { FORCE_COLOR: '1' })
      colour.table(evilRows, evilColumns)
      colour.record([{ label: 'Description', value: evil }])
      const plain = new Output(piped, stream(false), {})
      plain.table(evilRows, evilColumns)
      plain.record([{ label: 'Description', value: `two\nlines\tand a tab ${evil}` }])
      for (const text of [tty.text(), piped.text()]) {
        expect(onlyColours(text)).not.toMatch(acting)
        expect(onlyColours(text)).not.toContain('\u001b')
        expect(text).toContain('mock-small\\x1b]0;HACKED\\x07\\x1b[2J\\x9b2J\\r')
      }
      // The printer's own colours are still there, and a value cannot add lines or columns.
      expect(tty.text()).toContain('\u001b[1m')
      expect(tty.text()).toContain('\u001b[32mactive')
      expect(piped.text().trimEnd().split('\n')).toHaveLength(2)
      expect(piped.text().split('\n')[1]).toMatch(/^Description\ttwo\\nlines\\tand a tab /)
    })

    it('are escaped in lines and notes, while the colours commands paint are kept', () => {
      const out = stream(true)
      const err = stream(true)
      const o = new Output(out, err, { FORCE_COLOR: '1' })
      o.line(`${o.color.green('✓')} ${evil}`)
      o.note(o.errColor.dim(evil))
      o.success(`Created agent ${evil}`)
      o.warn(evil)
      for (const text of [out.text(), err.text()]) {
        expect(onlyColours(text)).not.toMatch(acting)
        expect(onlyColours(text)).not.toContain('\u001b')
        expect(text).toContain('\\x1b]0;HACKED\\x07')
      }
      expect(out.text()).toMatch(/^\u001b\[32m✓\u001b\[39m mock-small/)
      expect(err.text()).toContain('\u001b[33mWarning:\u001b[39m')
    })
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
