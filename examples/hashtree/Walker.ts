/**
 * Directory listing for the walk: one directory's regular files and subdirectories, relative to
 * the tree's root (`a/b/c.js`, `/`-separated: a file's name in the digest, and the shortest thing
 * to send to an actor). The walk itself (depth-first, with a file budget) is `walkFrom` in
 * examples/hashtree/Hasher.ts: the actors' task, and, with no budget, the single-process pass.
 *
 * Reads are synchronous (`readdirSync` with file types: one call per directory), which on Linux is
 * several times cheaper than the promise API for this many tiny operations. Symlinks are never
 * followed (pnpm's `node_modules` is mostly symlinks into `node_modules/.pnpm`; walking the real
 * tree counts each file once). A directory that cannot be read is reported as unreadable; files
 * that cannot be read are the hasher's business (it reports them as skipped).
 */
import { type Dirent, lstatSync, readdirSync } from "node:fs"

export interface WalkStats {
  /** Directories walked. */
  dirs: number
  /** Regular files found (readable or not). */
  files: number
  /** Entries skipped: symlinks, sockets, fifos, devices. */
  skippedEntries: number
  /** Directories that could not be read (EACCES, vanished). */
  unreadableDirs: number
}

export const makeStats = (): WalkStats => ({ dirs: 0, files: 0, skippedEntries: 0, unreadableDirs: 0 })

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

/** One directory's entries, classified (relative paths; symlinks and others skipped). */
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
 * given and hands the subdirectories back). Together, listings from `""` down visit every
 * regular file under the root once.
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
