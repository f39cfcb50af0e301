/**
 * sha256 of one file, read in chunks of at most 1 MiB through one reusable buffer, so a huge
 * file never sits in memory at once.
 *
 * Reads are synchronous (`readSync` on an fd), one chunk at a time: on a page-cached tree this is
 * 3-5x faster than the promise-based `fs` API, whose per-call cost dominates for small files. A
 * file that ends in its first chunk (a short read: most files) costs open, one read, close, with
 * no Effect step at all (`hashFileNow` gives its hash at once); a larger one is read on by an
 * Effect that yields before each further chunk, so the event loop (and a cancel) gets in every
 * chunk. The one buffer is safe to share between fibers: each chunk is read and fed to the hash
 * before the fiber can yield.
 *
 * A file that cannot be read (EACCES, vanished, a directory swapped in) is reported as skipped
 * with its error code, never as a failure: a directory is listed before its files are hashed,
 * and both passes (actors and single process) treat it alike.
 */
import * as Effect from "effect/Effect"
import { createHash, type Hash } from "node:crypto"
import { closeSync, openSync, readSync } from "node:fs"

export const chunkBytes = 1024 * 1024

export interface FileHash {
  readonly path: string
  readonly bytes: number
  /** Hex sha256 of the content; `null` when the file could not be read (see `error`). */
  readonly sha256: string | null
  /** Error code when the file was skipped (`EACCES`, `ENOENT`, `EISDIR`, ...). */
  readonly error: string | null
}

let shared: Buffer | undefined
const buffer = (): Buffer => (shared ??= Buffer.allocUnsafe(chunkBytes))

const codeOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string"
    ? (e as { code: string }).code
    : String(e)

const skipped = (path: string, e: unknown): FileHash => ({ path, bytes: 0, sha256: null, error: codeOf(e) })

/**
 * Hash one file. Never fails: an unreadable file comes back with `sha256: null` and its error
 * code. `path` is what the result carries; the file opened is `<root>/<path>` when `root` is
 * given (`path` relative and normalized, as `listDir` gives it), else `path` itself.
 */
export const hashFile = (path: string, root?: string): Effect.Effect<FileHash> =>
  Effect.suspend(() => {
    const r = hashFileNow(path, root)
    return Effect.isEffect(r) ? r : Effect.succeed(r)
  })

/**
 * `hashFile` without an Effect step for a file that ends in its first chunk (most files): its
 * `FileHash` at once. A larger file comes back as the Effect that reads the rest: it opens the
 * file again (acquired and released as a resource: closed however it ends, never left open by an
 * Effect that is not run), reads on from the first chunk's end and yields before each chunk.
 */
export const hashFileNow = (path: string, root?: string): FileHash | Effect.Effect<FileHash> => {
  const file = root === undefined ? path : `${root}/${path}`
  let fd: number
  try {
    fd = openSync(file, "r")
  } catch (e) {
    return skipped(path, e)
  }
  const hash: Hash = createHash("sha256")
  const buf = buffer()
  let n: number
  try {
    n = readSync(fd, buf, 0, buf.length, null)
  } catch (e) {
    return skipped(path, e)
  } finally {
    closeSync(fd)
  }
  hash.update(n === buf.length ? buf : buf.subarray(0, n))
  // A short read of a regular file is its end (no second read to see 0 bytes).
  if (n < buf.length) return { path, bytes: n, sha256: hash.digest("hex"), error: null }
  // Read until EOF (not up to a size from stat): a file that changes while read is hashed as read.
  const rest = (fd: number, bytes: number): Effect.Effect<FileHash> =>
    Effect.suspend(() => {
      const buf = buffer()
      let n: number
      try {
        n = readSync(fd, buf, 0, buf.length, bytes)
      } catch (e) {
        return Effect.succeed(skipped(path, e))
      }
      if (n > 0) hash.update(n === buf.length ? buf : buf.subarray(0, n))
      if (n < buf.length) return Effect.succeed({ path, bytes: bytes + n, sha256: hash.digest("hex"), error: null })
      // A full chunk: the file may be large; let others (and interruption) in before the next.
      return Effect.zipRight(Effect.yieldNow(), rest(fd, bytes + n))
    })
  return Effect.acquireUseRelease(
    Effect.try({ try: () => openSync(file, "r"), catch: (e) => e }),
    (fd) => Effect.zipRight(Effect.yieldNow(), rest(fd, n)),
    (fd) => Effect.sync(() => closeSync(fd))
  ).pipe(Effect.catchAll((e) => Effect.succeed(skipped(path, e))))
}
