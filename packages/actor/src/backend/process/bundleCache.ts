/**
 * The child bundle cache's upkeep: mark an entry used, and prune the cache to its bounds
 * (`Bounds.BundleCacheBounds`). An entry is every file named `<key>.*` in the cache directory
 * (`<key>.json` meta, `<key>.cjs`/`.mjs` bundle, `.map`, `.v8cache`); `.tmp-<pid>` directories
 * are a bundler's work in progress (or left by one that died).
 *
 * Safe against concurrent roots: an entry is used by touching its meta (mtime = last use), and
 * nothing used within `inUseGraceMs` is removed; removal takes the meta first (a concurrent
 * reader then rebuilds instead of using a half-removed entry), every step tolerating files that
 * another process removed already. Bundles and their caches appear by atomic rename
 * (`bundler.mjs`, `load-bundle.cjs`), so a reader never sees a partial file.
 *
 * @internal
 */
import { readdirSync, rmSync, statSync, utimesSync } from "node:fs"
import { join } from "node:path"
import type { BundleCacheBounds } from "../../Bounds.js"

/** Mark the entry whose meta is `metaPath` as used now (its mtime). */
export const touch = (metaPath: string): void => {
  try {
    const now = new Date()
    utimesSync(metaPath, now, now)
  } catch {
    // removed meanwhile: the caller's next check rebuilds
  }
}

export interface PruneResult {
  /** Entries (keys) and temporary directories removed. */
  readonly removed: ReadonlyArray<string>
  /** Entries kept, and their bytes. */
  readonly kept: number
  readonly keptBytes: number
}

interface Entry {
  readonly key: string
  readonly files: Array<string>
  bytes: number
  /** Last use (ms since the epoch): the meta's mtime, else the newest file's. */
  lastUsed: number
  metaMtime: number | undefined
}

/**
 * Prune `dir` to `bounds`, least recently used entries first, sparing anything used within
 * `bounds.inUseGraceMs` of `now` (ms since the epoch). A missing directory is an empty cache.
 */
export const prune = (dir: string, bounds: Omit<BundleCacheBounds, "pruneDelayMs">, now: number = Date.now()): PruneResult => {
  let names: Array<string>
  try {
    names = readdirSync(dir)
  } catch {
    return { removed: [], kept: 0, keptBytes: 0 }
  }
  const removed: Array<string> = []
  const entries = new Map<string, Entry>()
  for (const name of names) {
    const path = join(dir, name)
    let st
    try {
      st = statSync(path)
    } catch {
      continue
    }
    if (name.startsWith(".tmp-") || name.endsWith(".tmp")) {
      // A bundler's directory or a code cache being written: in progress, or left by a process that died.
      if (now - st.mtimeMs > bounds.inUseGraceMs) {
        rmSync(path, { recursive: true, force: true })
        removed.push(name)
      }
      continue
    }
    const key = name.split(".")[0]!
    const entry = entries.get(key) ?? { key, files: [], bytes: 0, lastUsed: 0, metaMtime: undefined }
    entries.set(key, entry)
    entry.files.push(name)
    entry.bytes += st.size
    if (name === `${key}.json`) entry.metaMtime = st.mtimeMs
    entry.lastUsed = Math.max(entry.lastUsed, st.mtimeMs)
  }
  const byRecency = [...entries.values()]
    .map((e) => ({ ...e, lastUsed: e.metaMtime ?? e.lastUsed }))
    .sort((a, b) => b.lastUsed - a.lastUsed)
  let kept = 0
  let keptBytes = 0
  for (const e of byRecency) {
    const inUse = now - e.lastUsed <= bounds.inUseGraceMs
    if (inUse || (kept < bounds.maxEntries && keptBytes + e.bytes <= bounds.maxBytes)) {
      kept++
      keptBytes += e.bytes
      continue
    }
    // The meta first: a concurrent root sees no entry (and rebuilds) rather than a partial one.
    const ordered = [...e.files].sort((a, b) => Number(b.endsWith(".json")) - Number(a.endsWith(".json")))
    for (const f of ordered) rmSync(join(dir, f), { force: true })
    removed.push(e.key)
  }
  return { removed, kept, keptBytes }
}

/** `prune` as upkeep: an unreadable directory or a removal that fails is left for the next one. */
export const pruneQuietly = (dir: string, bounds: BundleCacheBounds): void => {
  try {
    prune(dir, bounds)
  } catch {
    // nothing more to do now
  }
}
