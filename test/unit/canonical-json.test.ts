import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/core/canonical-json.js'

describe('canonicalJson', () => {
  it('sorts keys, drops undefined fields and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, undefined, { d: 'x', c: 2 }], z: undefined })).toBe(
      '{"a":[true,null,null,{"c":2,"d":"x"}],"b":1}',
    )
    expect(canonicalJson(Number.NaN)).toBe('null')
  })

  it('is the same text for equal values whatever the key order, and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value)
        expect(canonicalJson(JSON.parse(text))).toBe(text)
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)))
      }),
    )
  })
})
