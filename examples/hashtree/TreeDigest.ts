/**
 * A Merkle-style digest of a directory tree, independent of the order results arrive in.
 *
 * Entries `(relativePath, bytes, sha256)` are collected as they come; `digest()` builds the tree
 * and hashes it bottom-up: a directory's digest is the sha256 of its children sorted by name
 * (UTF-16 code-unit order, locale-independent), each written as
 *   `F <name> \0 <bytes> \0 <sha256>\n`  for a file, or
 *   `D <name> \0 <digest>\n`             for a subdirectory,
 * and the tree's digest is the root directory's. Names never contain `/` or `\0`, so the
 * encoding is unambiguous; two trees have the same digest iff they have the same files with the
 * same sizes and contents (up to sha256 collisions). Unreadable files are left out and counted.
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
}

const emptyDir = (): DirNode => ({ files: new Map(), dirs: new Map() })

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

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
    let dir = this.root
    for (const p of parts) {
      let next = dir.dirs.get(p)
      if (next === undefined) {
        next = emptyDir()
        dir.dirs.set(p, next)
      }
      dir = next
    }
    if (dir.files.has(name) || dir.dirs.has(name)) throw new Error(`TreeDigest.add: ${relativePath} added twice`)
    dir.files.set(name, { bytes, sha256 })
    this.files++
    this.bytes += bytes
  }

  /** Add a hasher's result (its `path` relative to the tree's root). */
  addResult(result: FileHash): void {
    if (result.sha256 === null) this.skipped.push({ path: result.path, error: result.error ?? "unknown" })
    else this.add(result.path, result.bytes, result.sha256)
  }

  /** The tree's digest (hex sha256). Pure: may be called any number of times. */
  digest(): string {
    return digestDir(this.root)
  }
}

const digestDir = (dir: DirNode): string => {
  const names = [...dir.files.keys(), ...dir.dirs.keys()].sort(byName)
  const h = createHash("sha256")
  for (const name of names) {
    const leaf = dir.files.get(name)
    if (leaf !== undefined) h.update(`F ${name}\0${leaf.bytes}\0${leaf.sha256}\n`)
    else h.update(`D ${name}\0${digestDir(dir.dirs.get(name)!)}\n`)
  }
  return h.digest("hex")
}

/** The digest of a list of entries, in any order (convenience for tests). */
export const digestOf = (entries: Iterable<{ readonly path: string; readonly bytes: number; readonly sha256: string }>): string => {
  const t = new TreeDigest()
  for (const e of entries) t.add(e.path, e.bytes, e.sha256)
  return t.digest()
}
