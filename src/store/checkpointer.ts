import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { Db } from './db.js'

// Runs in a worker thread with its own connection, so checkpoints never block the event loop.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.module)
const db = new Database(workerData.path, { timeout: 1000 })
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)') } catch {}
}, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  try { db.pragma('wal_checkpoint(PASSIVE)') } catch {}
  db.close()
  parentPort.postMessage('closed')
})
`

/**
 * Move WAL checkpoints off a busy connection: it stops checkpointing on commit (where, every thousand
 * pages, one commit would pay for copying them back and two fsyncs), and a worker thread checkpoints the
 * file every `intervalMs` instead. Durability is unchanged: commits are in the WAL either way.
 */
export function startCheckpointer(db: Db, path: string, intervalMs = 100): { stop(): Promise<void> } {
  db.pragma('wal_autocheckpoint = 0')
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { path, intervalMs, module: createRequire(import.meta.url).resolve('better-sqlite3') },
  })
  worker.unref()
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          db.pragma('wal_autocheckpoint = 1000')
          resolve()
        }
        worker.once('message', () => void worker.terminate().then(done, done))
        worker.once('error', done)
        worker.postMessage('stop')
      }),
  }
}
