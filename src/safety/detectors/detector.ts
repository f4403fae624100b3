import type { Category } from '../types.js'

/** A detector's match before hashing and overlap resolution. */
export interface RawFinding {
  category: Category
  start: number
  end: number
  confidence: number
  reasons?: string[]
}

export interface DetectContext {
  /** Categories to report; a detector may skip work for the others. */
  categories: ReadonlySet<Category>
  injectionThreshold: number
  /** Per-scan cache shared by the detectors (the keyword index). */
  memo?: Map<string, unknown>
}

/**
 * A detector finds its categories in a text and pushes raw findings. Detectors are pure, in-process and linear
 * in the text length (every regex is bounded), and local: a match depends only on the text within a few hundred
 * characters of it, which is what lets the stream redactor work on a bounded window.
 */
export interface Detector {
  id: string
  categories: readonly Category[]
  detect(text: string, ctx: DetectContext, out: RawFinding[]): void
}

export const wants = (ctx: DetectContext, category: Category): boolean => ctx.categories.has(category)
