/**
 * A bounded-memory directory walker: a `Stream` of the regular files under a root.
 *
 * Depth-first over a stack of open directory handles (one per level; `Dir` reads entries in
 * small batches), handing out at most 256 paths per pull, so memory is proportional to the
 * tree's depth, not its size, and nothing is read ahead of the consumer. Reads are synchronous
 * and short (one batch of entries), which on Linux is several times cheaper than the promise
 * API for this many tiny operations. Symlinks are never followed (pnpm's `node_modules` is
 * mostly symlinks into `node_modules/.pnpm`; walking the real tree counts each file once).
 * Directories that cannot be opened or read are skipped and counted; files that cannot be read
 * are the hasher's business (it reports them as skipped). Handles still open when the stream is
 * interrupted are closed.
 *
 * Paths are emitted relative to the root (`a/b/c.js`, `/`-separated): that is a file's name in
 * the digest, and the shortest thing to send to an actor; `join(root, path)` opens it.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { type Dir, type Dirent, lstatSync, opendirSync, readdirSync } from "node:fs"
import { join } from "node:path"

export interface WalkStats {
  /** Directories entered. */
  dirs: number
  /** Regular files emitted. */
  files: number
  /** Entries skipped: symlinks, sockets, fifos, devices. */
  skippedEntries: number
  /** Directories that could not be opened or read (EACCES, vanished). */
  unreadableDirs: number
}

export const makeStats = (): WalkStats => ({ dirs: 0, files: 0, skippedEntries: 0, unreadableDirs: 0 })

/** Paths handed out per pull at most. */
export const pullSize = 256

type Kind = "dir" | "file" | "other"

const kindOf = (entry: Dirent, path: () => string): Kind => {
  if (entry.isDirectory()) return "dir"
  if (entry.isFile()) return "file"
  if (entry.isSymbolicLink() || entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) {
    return "other"
  }
  // DT_UNKNOWN (some filesystems do not report types): ask, still without following links.
  try {
    const st = lstatSync(path())
    return st.isDirectory() ? "dir" : st.isFile() ? "file" : "other"
  } catch {
    return "other"
  }
}

/**
 * The regular files under `root` (paths relative to it), depth-first, without following symlinks.
 * Pass `stats` to observe counts while the stream runs. Each run walks afresh.
 */
export const walk = (root: string, stats: WalkStats = makeStats()): Stream.Stream<string> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    /** Open directories, with their path relative to the root (`""` for the root). */
    const stack: Array<{ readonly dir: Dir; readonly rel: string }> = []
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const { dir } of stack.splice(0)) {
          try {
            dir.closeSync()
          } catch {}
        }
      })
    )
    const enter = (rel: string) => {
      try {
        stack.push({ dir: opendirSync(rel === "" ? root : join(root, rel), { bufferSize: 64 }), rel })
        stats.dirs++
      } catch {
        stats.unreadableDirs++
      }
    }
    enter("")
    const pull = Effect.sync(() => {
      const out: Array<string> = []
      while (stack.length > 0 && out.length < pullSize) {
        const top = stack[stack.length - 1]!
        let entry: Dirent | null
        try {
          entry = top.dir.readSync()
        } catch {
          stats.unreadableDirs++
          entry = null
        }
        if (entry === null) {
          stack.pop()
          try {
            top.dir.closeSync()
          } catch {}
          continue
        }
        const rel = top.rel === "" ? entry.name : `${top.rel}/${entry.name}`
        const kind = kindOf(entry, () => join(root, rel))
        if (kind === "dir") enter(rel)
        else if (kind === "file") {
          stats.files++
          out.push(rel)
        } else stats.skippedEntries++
      }
      return out
    })
    return Stream.repeatEffectChunkOption(
      Effect.flatMap(pull, (out) => (out.length === 0 ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(out))))
    )
  }))

/** One directory's entries, classified as `walk` does (relative paths; symlinks and others skipped). */
export interface Listing {
  readonly files: ReadonlyArray<string>
  readonly dirs: ReadonlyArray<string>
  /** Entries that are neither: symlinks, sockets, fifos, devices. */
  readonly skippedEntries: number
  /** The directory could not be read (EACCES, vanished): it counts as unreadable, with nothing in it. */
  readonly unreadable: boolean
}

/**
 * List one directory `rel` (relative to `root`, `""` for the root itself) without descending:
 * the unit of work when the walk itself is spread over several workers (each lists what it is
 * given and hands the subdirectories back). Together, listings from `""` down visit exactly the
 * files `walk` emits.
 */
export const listDir = (root: string, rel: string): Listing => {
  const abs = rel === "" ? root : `${root}/${rel}`
  let entries: Array<Dirent>
  try {
    entries = readdirSync(abs, { withFileTypes: true })
  } catch {
    return { files: [], dirs: [], skippedEntries: 0, unreadable: true }
  }
  const files: Array<string> = []
  const dirs: Array<string> = []
  let skippedEntries = 0
  for (const entry of entries) {
    const path = rel === "" ? entry.name : `${rel}/${entry.name}`
    const kind = kindOf(entry, () => `${root}/${path}`)
    if (kind === "dir") dirs.push(path)
    else if (kind === "file") files.push(path)
    else skippedEntries++
  }
  return { files, dirs, skippedEntries, unreadable: false }
}
