/**
 * A Merkle-style digest of a directory tree, independent of the order results arrive in.
 *
 * A directory's digest is the sha256 of
 *   `files <its files' digest>\n`, then, for each subdirectory sorted by name,
 *   `D <name> \0 <its digest>\n`;
 * its files' digest (`filesDigest`) is the sha256 of its files sorted by name, each written as
 *   `F <name> \0 <bytes> \0 <sha256>\n`,
 * and the tree's digest is the root directory's. Names sort in UTF-16 code-unit order
 * (locale-independent) and never contain `/` or `\0`, so the encoding is unambiguous; two trees
 * have the same digest iff they have the same files with the same sizes and contents (up to
 * sha256 collisions). Only directories that hold a readable file, and their ancestors, take part
 * (an empty directory changes nothing). Unreadable files are left out and counted.
 *
 * Three ways in, with the same result: file by file (`add`), one directory's files already
 * digested where they were hashed (`addDir`: its `filesDigest` and counts), or a whole subtree
 * digested where it was walked (`addTree`: its digest, `dirDigest` of its files' digest and its
 * subdirectories' digests). A hashing actor sends one record per subtree it walked whole and one
 * per directory it walked only part of, never one per file.
 */
import { createHash } from "node:crypto"
import type { FileHash } from "./HashFile.js"

interface Leaf {
  readonly bytes: number
  readonly sha256: string
}

interface DirNode {
  readonly files: Map<string, Leaf>
  readonly dirs: Map<string, DirNode>
  /** Its files' digest, when they were added as one directory (`addDir`). */
  summary: string | undefined
  /** Its whole digest, when it was added as one subtree (`addTree`). */
  tree: string | undefined
}

const emptyDir = (): DirNode => ({ files: new Map(), dirs: new Map(), summary: undefined, tree: undefined })
const isEmpty = (d: DirNode): boolean => d.files.size === 0 && d.dirs.size === 0 && d.summary === undefined && d.tree === undefined

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The digest of one directory's files (`[name, bytes, sha256]`, any order; names without `/`):
 * what a hasher sends for a directory instead of its files' records.
 */
export const filesDigest = (files: Iterable<readonly [name: string, bytes: number, sha256: string]>): string => {
  const sorted = [...files].sort((a, b) => byName(a[0], b[0]))
  const h = createHash("sha256")
  for (const [name, bytes, sha256] of sorted) h.update(`F ${name}\0${bytes}\0${sha256}\n`)
  return h.digest("hex")
}

/** The files' digest of a directory with no readable file. */
const emptyFilesDigest = filesDigest([])

/**
 * The digest of a directory from its files' digest (`null`: it has no readable file) and its
 * subdirectories' digests (`[name, digest]`, any order; only those holding a readable file).
 */
export const dirDigest = (files: string | null, subdirs: Iterable<readonly [name: string, digest: string]>): string => {
  const h = createHash("sha256")
  h.update(`files ${files ?? emptyFilesDigest}\n`)
  for (const [name, digest] of [...subdirs].sort((a, b) => byName(a[0], b[0]))) h.update(`D ${name}\0${digest}\n`)
  return h.digest("hex")
}

export class TreeDigest {
  private readonly root = emptyDir()
  /** Files added (readable ones). */
  files = 0
  /** Sum of their sizes. */
  bytes = 0
  /** Files reported unreadable, with their error codes. */
  readonly skipped: Array<{ readonly path: string; readonly error: string }> = []

  /**
   * Add one file by its path relative to the tree's root (`/`-separated). Adding the same
   * path twice is a bug of the caller (a file hashed twice) and throws.
   */
  add(relativePath: string, bytes: number, sha256: string): void {
    const parts = relativePath.split("/").filter((p) => p.length > 0)
    const name = parts.pop()
    if (name === undefined) throw new Error(`TreeDigest.add: empty path`)
    const dir = this.node(parts)
    if (dir.files.has(name) || dir.dirs.has(name) || dir.summary !== undefined || dir.tree !== undefined) {
      throw new Error(`TreeDigest.add: ${relativePath} added twice`)
    }
    dir.files.set(name, { bytes, sha256 })
    this.files++
    this.bytes += bytes
  }

  /**
   * Add the readable files of one directory (`relativeDir`, `""` for the root) at once: their
   * `filesDigest`, count and total size. A directory with none adds nothing. Adding a directory
   * twice, or files to it both ways, is a bug of the caller and throws.
   */
  addDir(relativeDir: string, summary: { readonly filesDigest: string; readonly files: number; readonly bytes: number }): void {
    if (summary.files === 0) return
    const dir = this.node(relativeDir.split("/").filter((p) => p.length > 0))
    if (dir.summary !== undefined || dir.files.size > 0 || dir.tree !== undefined) throw new Error(`TreeDigest.addDir: ${relativeDir || "(root)"} added twice`)
    dir.summary = summary.filesDigest
    this.files += summary.files
    this.bytes += summary.bytes
  }

  /**
   * Add a whole subtree (`relativeDir`, `""` for the root) at once: its digest (`dirDigest`, over
   * everything under it), count of readable files and their total size. One with no readable file
   * adds nothing. Adding anything in it or under it, before or after, is a bug of the caller and throws.
   */
  addTree(relativeDir: string, summary: { readonly digest: string; readonly files: number; readonly bytes: number }): void {
    if (summary.files === 0) return
    const dir = this.node(relativeDir.split("/").filter((p) => p.length > 0))
    if (!isEmpty(dir)) throw new Error(`TreeDigest.addTree: ${relativeDir || "(root)"} added twice`)
    dir.tree = summary.digest
    this.files += summary.files
    this.bytes += summary.bytes
  }

  /** Count a file that could not be read (left out of the digest), with its error code. */
  skip(relativePath: string, error: string): void {
    this.skipped.push({ path: relativePath, error })
  }

  /** The node of a directory (its path's parts), created with its ancestors if missing. */
  private node(parts: ReadonlyArray<string>): DirNode {
    let dir = this.root
    for (const p of parts) {
      if (dir.tree !== undefined) throw new Error(`TreeDigest: ${parts.join("/")} is in a subtree added twice`)
      let next = dir.dirs.get(p)
      if (next === undefined) {
        if (dir.files.has(p)) throw new Error(`TreeDigest: ${parts.join("/")} is under a file`)
        next = emptyDir()
        dir.dirs.set(p, next)
      }
      dir = next
    }
    return dir
  }

  /** Add a hasher's result (its `path` relative to the tree's root). */
  addResult(result: FileHash): void {
    if (result.sha256 === null) this.skip(result.path, result.error ?? "unknown")
    else this.add(result.path, result.bytes, result.sha256)
  }

  /** The tree's digest (hex sha256). Pure: may be called any number of times. */
  digest(): string {
    return digestDir(this.root)
  }
}

const digestDir = (dir: DirNode): string =>
  dir.tree ?? dirDigest(
    dir.summary ?? filesDigest(Array.from(dir.files, ([name, l]) => [name, l.bytes, l.sha256] as const)),
    Array.from(dir.dirs, ([name, d]) => [name, digestDir(d)] as const)
  )

/** The digest of a list of entries, in any order (convenience for tests). */
export const digestOf = (entries: Iterable<{ readonly path: string; readonly bytes: number; readonly sha256: string }>): string => {
  const t = new TreeDigest()
  for (const e of entries) t.add(e.path, e.bytes, e.sha256)
  return t.digest()
}
