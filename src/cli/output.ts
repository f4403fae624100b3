import { randomBytes } from 'node:crypto'
import { Chalk, type ChalkInstance } from 'chalk'
import type { Env } from '../config/paths.js'
import { formatMoney } from '../core/money.js'
import { escapeControls } from '../core/terminal-text.js'
import { formatRelative, toIso } from '../core/time.js'

/** Colour level from FORCE_COLOR, then NO_COLOR / TERM=dumb, then whether the stream is a terminal. */
export function colorLevel(env: Env, isTTY: boolean): 0 | 1 | 2 | 3 {
  const force = env.FORCE_COLOR
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0
    const n = Number.parseInt(force, 10)
    return (Number.isNaN(n) ? 1 : Math.min(Math.max(n, 1), 3)) as 1 | 2 | 3
  }
  if (env.NO_COLOR || env.TERM === 'dumb') return 0
  if (!isTTY) return 0
  return env.COLORTERM === 'truecolor' || env.COLORTERM === '24bit' ? 3 : 2
}

export type CellKind = 'text' | 'money' | 'time' | 'number' | 'status' | 'id'

export interface Column<T> {
  header: string
  value: (row: T) => unknown
  kind?: CellKind
  /** Columns that may be shortened with … when the terminal is narrow. */
  shrink?: boolean
}

export interface Field {
  label: string
  value: unknown
  kind?: CellKind
}

const STATUS_COLORS: Record<string, 'green' | 'yellow' | 'red' | 'gray'> = {
  active: 'green',
  ok: 'green',
  live: 'green',
  pass: 'green',
  suspended: 'yellow',
  warn: 'yellow',
  expired: 'gray',
  revoked: 'red',
  deleted: 'red',
  fail: 'red',
  blocked: 'red',
  block: 'red',
  redact: 'yellow',
  log: 'gray',
  off: 'gray',
}

/**
 * The printer's own colours carry this marker instead of ESC until the text is written. Writing escapes
 * every control character first (whatever a string from the store, an agent or a provider holds), then turns
 * the marker into ESC: random per process, it cannot be forged by stored text.
 */
const ESC_MARK = `\u{F8FF}${randomBytes(6).toString('hex')}\u{F8FF}`
const STYLE_RE = new RegExp(`${ESC_MARK}\\[[0-9;]*m`, 'g')
const visibleLength = (text: string) => text.replace(STYLE_RE, '').length

export type Paint = (text: string) => string
/** The colours commands may use; what they paint survives the escaping of the line it is part of. */
export type Palette = Record<'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan' | 'gray', Paint>

function palette(level: 0 | 1 | 2 | 3): Palette {
  const chalk = new Chalk({ level })
  // What is painted may hold a value: its own control characters are escaped before the colour is added.
  const paint =
    (style: ChalkInstance): Paint =>
    (text) =>
      style(escapeControls(text, 'layout')).replaceAll('\u001b', ESC_MARK)
  return {
    bold: paint(chalk.bold),
    dim: paint(chalk.dim),
    red: paint(chalk.red),
    green: paint(chalk.green),
    yellow: paint(chalk.yellow),
    cyan: paint(chalk.cyan),
    gray: paint(chalk.gray),
  }
}

/** What reaches the terminal: control characters escaped (tabs and newlines are layout), then the colours. */
const forTerminal = (text: string) => escapeControls(text, 'layout').replaceAll(ESC_MARK, '\u001b')

/**
 * The one printer for results: tables and records with headers, colour, truncation and relative times
 * in a terminal; tab-separated full values and ISO times when piped. Results go to stdout, the rest to stderr.
 * Everything it writes has its control characters escaped, so no value can act on the terminal.
 */
export class Output {
  readonly color: Palette
  readonly errColor: Palette

  constructor(
    readonly stdout: NodeJS.WriteStream,
    readonly stderr: NodeJS.WriteStream,
    readonly env: Env,
    readonly quiet = false,
  ) {
    this.color = palette(colorLevel(env, Boolean(stdout.isTTY)))
    this.errColor = palette(colorLevel(env, Boolean(stderr.isTTY)))
  }

  get tty(): boolean {
    return Boolean(this.stdout.isTTY)
  }

  get width(): number {
    const fromEnv = Number(this.env.COLUMNS)
    return this.stdout.columns || (fromEnv > 0 ? fromEnv : 100)
  }

  /** A line of results on stdout (not in --json mode). */
  line(text = ''): void {
    if (!this.quiet) this.stdout.write(`${forTerminal(text)}\n`)
  }

  /** Progress, notes and "✓ done" lines go to stderr, so results stay clean when piped. */
  note(text: string): void {
    this.stderr.write(`${forTerminal(text)}\n`)
  }

  success(text: string): void {
    this.note(`${this.errColor.green('✓')} ${text}`)
  }

  warn(text: string): void {
    this.note(`${this.errColor.yellow('Warning:')} ${text}`)
  }

  /** One value as shown in a table or record: control characters, tabs and newlines included, escaped. */
  cell(value: unknown, kind: CellKind = 'text'): string {
    if (value === undefined || value === null || value === '') return this.tty ? this.color.dim('-') : ''
    const text = (v: unknown) => escapeControls(String(v))
    switch (kind) {
      case 'money':
        return typeof value === 'number' ? formatMoney(value) : text(value)
      case 'time': {
        const ms = typeof value === 'number' ? value : Date.parse(String(value))
        if (Number.isNaN(ms)) return text(value)
        return this.tty ? formatRelative(ms) : toIso(ms)
      }
      case 'status': {
        const tone = STATUS_COLORS[String(value)]
        return tone ? this.color[tone](text(value)) : text(value)
      }
      case 'id':
        return this.tty ? this.color.cyan(text(value)) : text(value)
      default:
        return text(typeof value === 'object' ? JSON.stringify(value) : value)
    }
  }

  /**
   * A table; an empty list prints one friendly line on stderr instead. Piped, a listing is headerless
   * tab-separated lines for cut and awk; a report for people (`headers: true`) keeps its header row.
   */
  table<T>(
    rows: readonly T[],
    columns: readonly Column<T>[],
    empty = 'Nothing to show.',
    options: { headers?: boolean } = {},
  ): void {
    if (this.quiet) return
    if (rows.length === 0) {
      this.note(empty)
      return
    }
    const cells = rows.map((row) => columns.map((col) => this.cell(col.value(row), col.kind)))
    if (!this.tty) {
      if (options.headers) cells.unshift(columns.map((col) => escapeControls(col.header.toUpperCase())))
      for (const line of cells) this.stdout.write(forTerminal(`${line.join('\t')}\n`))
      return
    }
    const widths = columns.map((col, i) =>
      Math.max(col.header.length, ...cells.map((line) => visibleLength(line[i]!))),
    )
    fitWidths(widths, columns, this.width)
    const pad = (text: string, width: number, right: boolean) => {
      const shown =
        visibleLength(text) > width ? `${text.replace(STYLE_RE, '').slice(0, Math.max(width - 1, 0))}…` : text
      const gap = ' '.repeat(Math.max(width - visibleLength(shown), 0))
      return right ? gap + shown : shown + gap
    }
    const right = columns.map((col) => col.kind === 'money' || col.kind === 'number')
    this.stdout.write(
      forTerminal(
        `${columns.map((col, i) => this.color.bold(pad(col.header.toUpperCase(), widths[i]!, right[i]!))).join('  ')}\n`,
      ),
    )
    for (const line of cells) {
      this.stdout.write(
        forTerminal(
          `${line
            .map((c, i) => pad(c, widths[i]!, right[i]!))
            .join('  ')
            .trimEnd()}\n`,
        ),
      )
    }
  }

  /** One object as label/value lines. */
  record(fields: readonly Field[]): void {
    if (this.quiet) return
    const labelWidth = Math.max(...fields.map((f) => f.label.length))
    for (const field of fields) {
      const value = this.cell(field.value, field.kind)
      if (this.tty)
        this.stdout.write(
          forTerminal(`${this.color.bold(`${field.label}:`.padEnd(labelWidth + 1))}  ${value}\n`),
        )
      else this.stdout.write(forTerminal(`${field.label}\t${value}\n`))
    }
  }
}

/** Shrink the shrinkable (else the widest) columns until the table fits the terminal. */
function fitWidths<T>(widths: number[], columns: readonly Column<T>[], total: number): void {
  const gaps = 2 * (widths.length - 1)
  let excess = widths.reduce((a, b) => a + b, 0) + gaps - total
  while (excess > 0) {
    let widest = -1
    for (let i = 0; i < widths.length; i++) {
      const candidate = columns[i]!.shrink !== false && widths[i]! > 8
      if (candidate && (widest === -1 || widths[i]! > widths[widest]!)) widest = i
    }
    if (widest === -1) return
    widths[widest]!--
    excess--
  }
}
