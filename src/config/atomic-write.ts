import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'

/** Write a file so that readers see the old content or the new, never half of it (temp file, fsync, rename). */
export function atomicWriteFile(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`
  let fd: number | undefined
  try {
    fd = openSync(temp, 'wx', mode)
    writeSync(fd, content)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(temp, path)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    rmSync(temp, { force: true })
    throw error
  }
}
