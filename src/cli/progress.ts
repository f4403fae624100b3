/** A one-line progress bar on a terminal stream (stderr), redrawn in place. */
export class ProgressBar {
  readonly #started = performance.now()

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly unit: string,
  ) {}

  update(done: number): void {
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 45))
    const ratio = this.total > 0 ? Math.min(done / this.total, 1) : 1
    const filled = Math.round(ratio * width)
    const rate = done / Math.max((performance.now() - this.#started) / 1000, 0.001)
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`
    this.stream.write(
      `\r${bar} ${(ratio * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ${this.unit} (${Math.round(rate)}/s)`,
    )
  }

  done(done: number): void {
    this.update(done)
    this.stream.write('\n')
  }
}
