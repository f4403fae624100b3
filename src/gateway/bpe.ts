/**
 * Byte-pair token counting in a few megabytes: a BPE vocabulary (OpenAI's o200k_base, cl100k_base) packed
 * into one buffer with an open-addressing index, and tiktoken's merge over it. The usual JS tokenizers keep
 * the vocabulary as hundreds of thousands of strings in maps (tens of megabytes of heap for one encoding);
 * counting needs only "is this byte sequence a token, and of what rank".
 *
 * Packed form: "IRONBPE1", the number of ranks (u32 LE), then rank → offset (u32 LE, one more than the
 * number of ranks), then the tokens' bytes end to end. A rank the vocabulary skips has no bytes.
 */

const MAGIC = 'IRONBPE1'
const HEADER = MAGIC.length + 4

/** Pieces longer than this are counted as one token per byte: an upper bound, without quadratic merging. */
const MAX_MERGED_BYTES = 8192

/** One vocabulary entry as the tokenizer packages ship it: the text, or its bytes when they are not UTF-8. */
export type RankEntry = string | readonly number[] | undefined

/** Packs a vocabulary (index = rank) into the form `BpeCounter` reads. */
export function packRanks(ranks: ReadonlyArray<RankEntry>): Buffer {
  const parts = ranks.map((entry) =>
    entry === undefined
      ? Buffer.alloc(0)
      : typeof entry === 'string'
        ? Buffer.from(entry, 'utf8')
        : Buffer.from(entry as number[]),
  )
  const dataLength = parts.reduce((n, p) => n + p.length, 0)
  const out = Buffer.alloc(HEADER + 4 * (parts.length + 1) + dataLength)
  out.write(MAGIC, 0, 'latin1')
  out.writeUInt32LE(parts.length, MAGIC.length)
  let offset = 0
  let at = HEADER + 4 * (parts.length + 1)
  parts.forEach((part, rank) => {
    out.writeUInt32LE(offset, HEADER + 4 * rank)
    part.copy(out, at)
    at += part.length
    offset += part.length
  })
  out.writeUInt32LE(offset, HEADER + 4 * parts.length)
  return out
}

const fnv1a = (bytes: Uint8Array, start: number, end: number): number => {
  let h = 0x811c9dc5
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193)
  return h >>> 0
}

/** Counts tokens the way tiktoken encodes: split with the encoding's pattern, then merge each piece's bytes. */
export class BpeCounter {
  readonly #data: Uint8Array
  readonly #offsets: Uint32Array
  readonly #slots: Int32Array
  readonly #mask: number
  #scratch = Buffer.alloc(1024)

  constructor(
    packed: Uint8Array,
    /** The encoding's pre-tokenizer pattern (flags g and u). */
    private readonly split: RegExp,
  ) {
    const view = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength)
    if (view.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error('not a packed BPE vocabulary')
    const count = view.readUInt32LE(MAGIC.length)
    const offsetsAt = HEADER
    const dataAt = offsetsAt + 4 * (count + 1)
    this.#offsets = new Uint32Array(count + 1)
    for (let i = 0; i <= count; i++) this.#offsets[i] = view.readUInt32LE(offsetsAt + 4 * i)
    this.#data = view.subarray(dataAt, dataAt + this.#offsets[count]!)
    let size = 1
    while (size < count * 2) size *= 2
    this.#slots = new Int32Array(size).fill(-1)
    this.#mask = size - 1
    for (let rank = 0; rank < count; rank++) {
      const start = this.#offsets[rank]!
      const end = this.#offsets[rank + 1]!
      if (end === start) continue
      let slot = fnv1a(this.#data, start, end) & this.#mask
      while (this.#slots[slot] !== -1) slot = (slot + 1) & this.#mask
      this.#slots[slot] = rank
    }
  }

  /** Tokens of `text`, special-token markers included as plain text (as the APIs count user content). */
  countTokens(text: string): number {
    let count = 0
    for (const match of text.matchAll(this.split)) {
      const piece = match[0]
      if (piece.length === 1 && piece.charCodeAt(0) < 0x80) {
        count++
        continue
      }
      const length = this.#encode(piece)
      if (this.#rank(this.#scratch, 0, length) !== -1) count++
      else count += length > MAX_MERGED_BYTES ? length : this.#merge(length)
    }
    return count
  }

  /**
   * UTF-8 of `piece` into the scratch buffer (lone surrogates become U+FFFD, as TextEncoder does). ASCII, the
   * usual case, is copied in place: cheaper than a call into Buffer's encoder for a few characters.
   */
  #encode(piece: string): number {
    if (piece.length * 3 > this.#scratch.length) this.#scratch = Buffer.alloc(piece.length * 3)
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i)
      if (c >= 0x80) return this.#scratch.write(piece, 0, 'utf8')
      this.#scratch[i] = c
    }
    return piece.length
  }

  /** Rank of bytes[start, end), or -1 when they are not a token. */
  #rank(bytes: Uint8Array, start: number, end: number): number {
    const length = end - start
    let slot = fnv1a(bytes, start, end) & this.#mask
    for (;;) {
      const rank = this.#slots[slot]!
      if (rank === -1) return -1
      const at = this.#offsets[rank]!
      if (this.#offsets[rank + 1]! - at === length) {
        let same = true
        for (let i = 0; i < length; i++) {
          if (this.#data[at + i] !== bytes[start + i]) {
            same = false
            break
          }
        }
        if (same) return rank
      }
      slot = (slot + 1) & this.#mask
    }
  }

  /** tiktoken's byte-pair merge of the scratch buffer's first `length` bytes; returns the number of parts. */
  #merge(length: number): number {
    const bytes = this.#scratch
    const starts: number[] = []
    const ranks: number[] = []
    const pairRank = (i: number): number => {
      const end = starts[i + 2]
      if (end === undefined) return Number.POSITIVE_INFINITY
      const rank = this.#rank(bytes, starts[i]!, end)
      return rank === -1 ? Number.POSITIVE_INFINITY : rank
    }
    for (let i = 0; i <= length; i++) starts.push(i)
    for (let i = 0; i <= length; i++) ranks.push(pairRank(i))
    while (starts.length > 1) {
      let lowest = Number.POSITIVE_INFINITY
      let at = -1
      for (let i = 0; i < ranks.length - 1; i++) {
        if (ranks[i]! < lowest) {
          lowest = ranks[i]!
          at = i
        }
      }
      if (at === -1) break
      starts.splice(at + 1, 1)
      ranks.splice(at, 1)
      ranks[at] = pairRank(at)
      if (at > 0) ranks[at - 1] = pairRank(at - 1)
    }
    return starts.length - 1
  }
}
