/**
 * One shared pass over a text for every keyword the detectors care about (prompt-injection anchors, "phone:",
 * "SSN", ...). The keywords are compiled into a single case-insensitive regex factored as a trie
 * (`\b(?:i(?:gnor|...)|...)`), which V8 runs about three times faster than a flat alternation, and the hits are
 * computed once per scan and shared through the detect context.
 */
import type { DetectContext } from './detector.js'

const registered = new Set<string>()
let compiled: { re: RegExp; expand: Map<string, string[]> } | undefined

const normalize = (s: string): string => s.toLowerCase().replace(/\s+/g, ' ')
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Registers keywords (lowercase; a space matches 1-3 whitespace characters). Call at module load. */
export function registerKeywords(words: Iterable<string>): void {
  for (const w of words) registered.add(normalize(w))
  compiled = undefined
}

interface Node {
  end: boolean
  next: Map<string, Node>
}

function trieSource(words: readonly string[]): string {
  const root: Node = { end: false, next: new Map() }
  for (const w of words) {
    let node = root
    for (const ch of w) {
      let child = node.next.get(ch)
      if (!child) {
        child = { end: false, next: new Map() }
        node.next.set(ch, child)
      }
      node = child
    }
    node.end = true
  }
  const emit = (node: Node): string => {
    const alts = [...node.next].map(([ch, child]) => (ch === ' ' ? '\\s{1,3}' : escapeRe(ch)) + emit(child))
    if (alts.length === 0) return ''
    const body = alts.length === 1 ? alts[0]! : `(?:${alts.join('|')})`
    return node.end ? `(?:${body})?` : body
  }
  return emit(root)
}

function compile(): { re: RegExp; expand: Map<string, string[]> } {
  const words = [...registered]
  const wordStart = words.filter((w) => /^\w/.test(w))
  const other = words.filter((w) => !/^\w/.test(w))
  const source = `\\b${trieSource(wordStart)}${other.length > 0 ? `|${trieSource(other)}` : ''}`
  // The trie matches the longest keyword at a position; a hit also counts for the shorter keywords it starts with.
  const expand = new Map<string, string[]>()
  for (const w of words)
    expand.set(
      w,
      words.filter((v) => w.startsWith(v)),
    )
  return { re: new RegExp(source, 'gi'), expand }
}

export type KeywordHits = ReadonlyMap<string, readonly number[]>

/** Start offsets of every registered keyword in the text, by keyword; computed once per scan (given `ctx`). */
export function keywordHits(text: string, ctx?: DetectContext): KeywordHits {
  const memo = ctx?.memo?.get('keywords') as Map<string, number[]> | undefined
  if (memo) return memo
  compiled ??= compile()
  const { re, expand } = compiled
  const hits = new Map<string, number[]>()
  re.lastIndex = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lower = m[0].toLowerCase()
    const key = /\s\s|[\t\n\r\f\v]/.test(lower) ? normalize(lower) : lower
    for (const k of expand.get(key) ?? []) {
      const list = hits.get(k)
      if (list) list.push(m.index)
      else hits.set(k, [m.index])
    }
    re.lastIndex = m.index + 1 // keywords may start inside a longer one
  }
  ctx?.memo?.set('keywords', hits)
  return hits
}

/** Sorted, de-duplicated positions of any of the given keywords. */
export function positionsOf(hits: KeywordHits, words: readonly string[]): number[] {
  const all: number[] = []
  for (const w of words) {
    const list = hits.get(w)
    if (list) for (const p of list) all.push(p)
  }
  all.sort((a, b) => a - b)
  let n = 0
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[n++] = all[i]!
  all.length = n
  return all
}
