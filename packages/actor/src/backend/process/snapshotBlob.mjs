// A Node startup snapshot blob (`node --snapshot-blob <blob> --build-snapshot …`) without the code
// cache of Node's built-in modules: run by snapshotter.mjs on each blob it builds, before the check.
//
// Why: Node appends to every user-land snapshot the V8 code cache of all its built-in modules (~2.8 MB
// of the demo's 7.4 MB hasher blob; `SnapshotData::ToBlob` in node/src/node_snapshotable.cc writes it
// last), and a process started from the blob reads it into a zeroed buffer and copies each module's
// cache again (`SnapshotData::FromFile`, `FromBlob`), fresh memory page by page, before V8 starts.
// An actor compiles few built-in modules after its snapshot: those it loaded while the snapshot was
// built are in the snapshot's heap already, so the cache serves only a module first required later
// (e.g. `worker_threads`, which snapshot-entry.cjs defers), which then compiles from its source.
// Measured (2 cores, 30 runs of each in turn, the hasher's `--troupe-snapshot-check`): exec → exit
// 107.9 → 99.5 ms, CPU 108.2 → 99.7 ms; the demo's 2-actor spawn 156 → 149 ms (15 runs in turn).
// Node's own way, `--build-snapshot-config` with `withoutCodeCache`, also clears the bytecode of
// every function from the V8 heap (`FunctionCodeHandling::kClear`): the actor would compile its
// whole runtime lazily, and on Node 20 class fields then went missing (Effect's fiber runtime
// failed its first run).
//
// The cache is found from the end of the file, not parsed from the front (the fields before it are
// Node-version specific): the last field is `[u64 count][count × ([u64 n][n bytes id][u64 m][m bytes])]`
// (size_t little-endian, x64/arm64), and the offset kept is the one whose entries, each with a
// printable module id, end exactly at the end of the file. Where none does (another layout, a blob
// stripped already), the blob is left as it is; snapshotter.mjs checks the result runs, and keeps
// the unstripped blob when it does not.
import { readFileSync, writeFileSync } from "node:fs"

/** Bounds on what a code cache entry looks like (module count, id length). */
const maxModules = 4096
const maxIdLength = 256

/** The u64 (little-endian) at `p` in `buf`, or -1 when it is 2^32 or more. */
const u64 = (buf, p) => (buf.readUInt32LE(p + 4) === 0 ? buf.readUInt32LE(p) : -1)

/** The module count of the code cache field at `at` when it ends exactly at the end of `buf`. */
const cacheFieldAt = (buf, at) => {
  const end = buf.length
  const count = u64(buf, at)
  if (count < 1 || count > maxModules) return undefined
  let p = at + 8
  for (let i = 0; i < count; i++) {
    if (p + 8 > end) return undefined
    const idLength = u64(buf, p)
    if (idLength < 1 || idLength > maxIdLength) return undefined
    p += 8
    const idEnd = p + idLength
    if (idEnd + 8 > end) return undefined
    for (let j = p; j < idEnd; j++) if (buf[j] <= 0x20 || buf[j] >= 0x7f) return undefined
    const size = u64(buf, idEnd)
    if (size < 0 || size > end - idEnd - 8) return undefined
    p = idEnd + 8 + size
  }
  return p === end ? count : undefined
}

/**
 * Where the built-in modules' code cache starts in the snapshot blob `buf` and how many modules it
 * holds, or undefined when no such field ends the blob.
 *
 * @param {Buffer} buf
 * @returns {{ readonly offset: number, readonly modules: number } | undefined}
 */
export const builtinCodeCache = (buf) => {
  // The field is at least 8 + 8 + 1 + 8 bytes long; scan back from there.
  for (let at = buf.length - 25; at >= 0; at--) {
    const modules = cacheFieldAt(buf, at)
    if (modules !== undefined) return { offset: at, modules }
  }
  return undefined
}

/**
 * Rewrites the snapshot blob at `path` with an empty built-in code cache (count 0). Returns the
 * bytes removed, or 0 when the blob was left as it was (no code cache found).
 *
 * @param {string} path
 * @returns {number}
 */
export const stripBuiltinCodeCache = (path) => {
  const buf = readFileSync(path)
  const cache = builtinCodeCache(buf)
  if (cache === undefined) return 0
  const out = Buffer.alloc(cache.offset + 8)
  buf.copy(out, 0, 0, cache.offset)
  out.writeBigUInt64LE(0n, cache.offset)
  writeFileSync(path, out)
  return buf.length - out.length
}
