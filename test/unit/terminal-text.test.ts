import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { escapeControls } from '../../src/core/terminal-text.js'

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

describe('escapeControls', () => {
  it('shows escape sequences, BEL, DEL and C1 controls as text', () => {
    expect(escapeControls('mock-small\u001b]0;HACKED\u0007\u001b[2J')).toBe(
      'mock-small\\x1b]0;HACKED\\x07\\x1b[2J',
    )
    expect(escapeControls('a\u007fb\u009b31mc\u0000')).toBe('a\\x7fb\\x9b31mc\\x00')
    expect(escapeControls('line\r\nnext\tcol')).toBe('line\\r\\nnext\\tcol')
  })

  it('keeps tabs and newlines when they are layout, and leaves plain text alone', () => {
    expect(escapeControls('a\tb\nc\r\u001b[H', 'layout')).toBe('a\tb\nc\\r\\x1b[H')
    expect(escapeControls('support-bot — $1.00 ✓')).toBe('support-bot — $1.00 ✓')
  })

  it('leaves no control character, and escaping twice changes nothing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const once = escapeControls(text)
        expect(once).not.toMatch(CONTROL)
        expect(escapeControls(once)).toBe(once)
      }),
    )
  })
})
