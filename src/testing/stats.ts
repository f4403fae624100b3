// Small statistics helpers shared by the benchmarks and the load driver.
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

/** Of no samples: n 0, min and max undefined, the rest NaN. */
export interface Summary {
  n: number
  min: number
  p50: number
  p99: number
  max: number
  mean: number
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    n: sorted.length,
    min: sorted[0] as number,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) as number,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  }
}

export const fmt = (ms: number) => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`
