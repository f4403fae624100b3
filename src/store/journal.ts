import {
  chmodSync,
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import { IronError } from '../core/errors.js'
import { holdExclusively } from './exclusive.js'

/** How many processes may keep a journal beside one store at once (each holds a file of its own). */
const SLOTS = 64

/** Where the journals of the processes writing to the store at `dbPath` are kept. */
export const journalDirOf = (dbPath: string): string => `${dbPath}.pending`

/** Whether the store is a file (an in-memory one keeps no journal: nothing of it outlives the process). */
export const isFile = (dbPath: string): boolean => dbPath !== '' && dbPath !== ':memory:'

/** What dead gateways left in the journals of the store at `dbPath`, said for a person; undefined when nothing. */
export function pendingSettlements(dbPath: string): string | undefined {
  const count = isFile(dbPath) ? Journal.orphans(journalDirOf(dbPath)) : 0
  if (count === 0) return undefined
  const requests = count === 1 ? '1 request' : `${count} requests`
  return `${requests} a gateway answered before it stopped ${count === 1 ? 'is' : 'are'} not yet in ${dbPath}`
}

/**
 * What a process has done but not yet written to the store: each entry is appended with one write(2)
 * before the process acts on it (the kernel has it once the call returns, so it survives a crash of the
 * process as a WAL commit with synchronous=NORMAL does), and the process writes entries to the store in
 * batches afterwards, then clears the file. One file per process, held exclusively for as long as it runs:
 * a file that no process holds was left by one that died, and whoever opens the store next writes what is
 * in it (the caller skips entries the store already has: a process can die between its commit and the clear).
 */
export class Journal<T> {
  readonly path: string
  readonly #fd: number
  readonly #lock: Database.Database

  private constructor(path: string, fd: number, lock: Database.Database) {
    this.path = path
    this.#fd = fd
    this.#lock = lock
  }

  /**
   * A journal of `dir` that no running process holds; `recover` is given what a dead owner left in it
   * before it is cleared (an error from it leaves the file as it was and is thrown).
   */
  static open<T>(dir: string, recover: (entries: T[]) => void): Journal<T> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (let slot = 1; slot <= SLOTS; slot++) {
      const held = holdSlot(dir, slot)
      if (!held) continue
      try {
        const left = readEntries<T>(held.path)
        if (left.length > 0) recover(left)
        const fd = openSync(held.path, 'a', 0o600)
        chmodSync(held.path, 0o600)
        ftruncateSync(fd, 0)
        return new Journal<T>(held.path, fd, held.lock)
      } catch (error) {
        held.lock.close()
        throw error
      }
    }
    throw new IronError('JOURNAL_BUSY', `Every journal in ${dir} is held by a running process (${SLOTS})`, {
      hint: 'Stop a gateway on this store before starting another',
    })
  }

  /** Give `recover` what each dead process left in `dir`, and clear it once written. Returns how many entries. */
  static recoverOrphans<T>(dir: string, recover: (entries: T[]) => void): number {
    return forEachOrphan<T>(dir, (left, path) => {
      if (left.length > 0) recover(left)
      truncateSync(path, 0)
    })
  }

  /** How many entries dead processes left in `dir` (nothing is written or cleared). */
  static orphans(dir: string): number {
    return forEachOrphan(dir, () => {})
  }

  /** Append one entry; it is durable against a crash of this process once this returns. */
  append(entry: T): void {
    const bytes = Buffer.from(`${JSON.stringify(entry)}\n`)
    for (let done = 0; done < bytes.length; ) done += writeSync(this.#fd, bytes, done)
  }

  /** Everything appended so far is in the store. */
  clear(): void {
    ftruncateSync(this.#fd, 0)
  }

  /** Let go of the file (what it still holds is recovered by the next process to open the store). */
  close(): void {
    closeSync(this.#fd)
    this.#lock.close()
  }
}

/** `fn` on the entries of each journal of `dir` that holds some and that no running process holds. */
function forEachOrphan<T>(dir: string, fn: (entries: T[], path: string) => void): number {
  if (!existsSync(dir)) return 0
  let count = 0
  for (const name of readdirSync(dir)) {
    const slot = /^slot-(\d+)\.log$/.exec(name)?.[1]
    if (!slot || statSync(join(dir, name)).size === 0) continue
    const held = holdSlot(dir, Number(slot))
    if (!held) continue
    try {
      const left = readEntries<T>(held.path)
      fn(left, held.path)
      count += left.length
    } finally {
      held.lock.close()
    }
  }
  return count
}

function holdSlot(dir: string, slot: number): { path: string; lock: Database.Database } | undefined {
  const lockPath = join(dir, `slot-${slot}.lock`)
  const lock = holdExclusively(lockPath)
  if (!lock) return undefined
  chmodSync(lockPath, 0o600)
  return { path: join(dir, `slot-${slot}.log`), lock }
}

/** The entries of a journal file; a line that does not parse (a write cut by a crash of the machine) is skipped. */
function readEntries<T>(path: string): T[] {
  if (!existsSync(path)) return []
  const entries: T[] = []
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue
    try {
      entries.push(JSON.parse(line) as T)
    } catch {}
  }
  return entries
}
