/**
 * Remote stacks that name the original sources in a bundled child, without paying for
 * `--enable-source-maps` at boot (~0.35 s here) nor for a source-map parse when the first error
 * is boxed (`node:module`'s `SourceMap` decodes every mapping of the ~1.2 MB `mappings` string
 * into objects: ~170 ms here; even one scan of it, decoding in place, costs 20–30 ms cold, and
 * that was on the failing call's path).
 *
 * So the parent, when it builds a bundle, writes an index next to it (`<bundle>.mapidx`,
 * `writeMapIndex`): the `mappings` bytes, the `sources`, and a checkpoint every
 * `checkpointEvery` segments (the decoder's state there). A child reads it the first time an
 * error is boxed (~1.3 MB, one read) and decodes at most `checkpointEvery` segments per frame.
 * Without an index (or a stale one), the map itself is read and indexed in the child, as before.
 * Format: Source Map v3 (ECMA-426, "Source map format specification", section "Mappings
 * structure"); the index layout is `indexFile` below.
 *
 * @internal
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

interface LoadedMap {
  readonly mappings: MappingsIndex
  readonly sources: ReadonlyArray<string>
}

let bundlePath: string | undefined
let map: LoadedMap | null | undefined
/** Frames already mapped, by bundle `line:column` (1-based, as in stacks): the same throw site recurs. */
const found = new Map<string, Position>()
/** At most this many frames are kept in `found` (it is cleared when full). */
const maxFound = 4096

/** Map frames of `path` (a bundle with a `.map` next to it) back to their sources. */
export const useBundleSourceMap = (path: string): void => {
  bundlePath = path
  map = undefined
  found.clear()
}

/** Base64 digit values by char code; -1 for anything else. */
const BASE64 = (() => {
  const t = new Int8Array(128).fill(-1)
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for (let i = 0; i < digits.length; i++) t[digits.charCodeAt(i)] = i
  return t
})()

/** A generated position (0-based line and column) and where it came from, once found. */
export interface Position {
  readonly line: number
  readonly column: number
  source?: number
  originalLine?: number
  originalColumn?: number
}

/** A checkpoint every this many segments: a lookup decodes at most this many. */
export const checkpointEvery = 64
/**
 * Int32 fields per checkpoint, the decoder's state just after a segment ended (at the `,` or `;`
 * that follows it, or the end): offset of that byte, generated line, the segment's generated
 * column, source, original line, original column, and 1 if the segment has a source (else 0).
 */
const STRIDE = 7

/** Checkpoints into the `mappings` (ASCII bytes), sorted by generated line, then column. */
export interface MappingsIndex {
  readonly checkpoints: Int32Array
  /** Bytes of `mappings`. */
  readonly length: number
  /** Bytes `from` to `to` (exclusive) of `mappings`; throws when they cannot be read. */
  readonly bytes: (from: number, to: number) => Uint8Array
}

const SEGMENT = 0
const LINE = 1
const END = 2
const BAD = 3

/** Decodes `mappings` one segment at a time, from the start or from a checkpoint. */
class Cursor {
  i = 0
  line = 0
  column = 0
  source = 0
  originalLine = 0
  originalColumn = 0
  /** Fields of the segment last decoded (4 or more: it has a source). */
  fields = 0
  constructor(readonly bytes: Uint8Array) {}

  /**
   * The next segment (`SEGMENT`, complete: followed by a separator or the end), line break
   * (`LINE`, the line already advanced), `END`, or `BAD` (malformed: the cursor is then spent).
   */
  next(): number {
    const b = this.bytes
    const n = b.length
    for (;;) {
      if (this.i >= n) return END
      const c = b[this.i]!
      if (c === 59 /* ; */) {
        this.i++
        this.line++
        this.column = 0
        return LINE
      }
      if (c !== 44 /* , */) break
      this.i++
    }
    let fields = 0
    let value = 0
    let shift = 0
    for (;; this.i++) {
      const c = this.i < n ? b[this.i]! : 59
      if (c === 44 || c === 59) {
        if (shift !== 0) return BAD
        this.fields = fields
        return SEGMENT
      }
      const digit = c < 128 ? BASE64[c]! : -1
      if (digit < 0) return BAD
      value |= (digit & 31) << shift
      if ((digit & 32) !== 0) {
        shift += 5
        // Values past 2^30 are not positions in any real bundle: malformed.
        if (shift > 25) return BAD
        continue
      }
      const delta = (value & 1) === 1 ? -(value >>> 1) : value >>> 1
      value = 0
      shift = 0
      if (fields === 0) this.column += delta
      else if (fields === 1) this.source += delta
      else if (fields === 2) this.originalLine += delta
      else if (fields === 3) this.originalColumn += delta
      fields++
    }
  }
}

const bytesOf = (mappings: string | Uint8Array): Uint8Array =>
  typeof mappings === "string" ? Buffer.from(mappings, "latin1") : mappings

/**
 * Index `mappings` (one scan), a checkpoint every `every` segments; a malformed part ends the
 * checkpoints before it.
 */
export const index = (mappings: string | Uint8Array, every = checkpointEvery): MappingsIndex => {
  const bytes = bytesOf(mappings)
  const c = new Cursor(bytes)
  let out = new Int32Array(STRIDE * 1024)
  let count = 0
  let segments = 0
  for (let k = c.next(); k !== END && k !== BAD; k = c.next()) {
    if (k !== SEGMENT || segments++ % every !== 0) continue
    if ((count + 1) * STRIDE > out.length) {
      const grown = new Int32Array(out.length * 2)
      grown.set(out)
      out = grown
    }
    out.set([c.i, c.line, c.column, c.source, c.originalLine, c.originalColumn, c.fields >= 4 ? 1 : 0], count * STRIDE)
    count++
  }
  return { checkpoints: out.slice(0, count * STRIDE), length: bytes.length, bytes: (from, to) => bytes.subarray(from, to) }
}

/** The last checkpoint at or before (line, column), or -1. */
const checkpointBefore = (cp: Int32Array, line: number, column: number): number => {
  let lo = 0
  let hi = cp.length / STRIDE - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const l = cp[mid * STRIDE + 1]!
    if (l < line || (l === line && cp[mid * STRIDE + 2]! <= column)) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

/**
 * Fill in the original position of `p`: the last segment on the same generated line whose column
 * is at or before it (a segment without a source leaves it unmapped). Decodes from the checkpoint
 * before it. Malformed mappings before it is settled leave it unmapped; never throws.
 */
const locateOne = (ix: MappingsIndex, p: Position): void => {
  let best = false
  let source = 0
  let originalLine = 0
  let originalColumn = 0
  const cps = ix.checkpoints
  const k0 = checkpointBefore(cps, p.line, p.column)
  // Only the bytes up to the next checkpoint's segment (past `p`) and the separator after it.
  const from = k0 >= 0 ? cps[k0 * STRIDE]! : 0
  const to = (k0 + 1) * STRIDE < cps.length ? cps[(k0 + 1) * STRIDE]! + 1 : ix.length
  const c = new Cursor(ix.bytes(from, to))
  if (k0 >= 0) {
    const cp = cps.subarray(k0 * STRIDE, k0 * STRIDE + STRIDE)
    ;[, c.line, c.column, c.source, c.originalLine, c.originalColumn] = cp
    if (c.line === p.line && cp[6] === 1) {
      best = true
      ;[source, originalLine, originalColumn] = [c.source, c.originalLine, c.originalColumn]
    }
  }
  for (;;) {
    const k = c.next()
    if (k === BAD) return
    // The line of `p` ended (a segment past it, the line's end or the mappings'): settled.
    const ended = k === SEGMENT ? c.line === p.line && c.column > p.column : (k === LINE ? c.line - 1 : c.line) === p.line
    if (ended && best) {
      p.source = source
      p.originalLine = originalLine
      p.originalColumn = originalColumn
    }
    if (ended || k === END || c.line > p.line) return
    if (k === SEGMENT && c.line === p.line) {
      best = c.fields >= 4
      ;[source, originalLine, originalColumn] = [c.source, c.originalLine, c.originalColumn]
    }
  }
}

/** Fill in the original position of every one of `positions` (see `locateOne`). */
export const locate = (ix: MappingsIndex, positions: ReadonlyArray<Position>): void => {
  for (const p of positions) locateOne(ix, p)
}

/**
 * `<bundle>.mapidx`, little-endian: `TRPMIDX1`; the map's mtime (ms) and size (bytes) as two
 * float64 (a stale index is not used); three uint32: bytes of `sources` (JSON, padded to 4),
 * checkpoints, bytes of `mappings`; then `sources`, the checkpoints (`STRIDE` int32 each) and the
 * `mappings` bytes.
 */
const indexFile = (bundle: string) => `${bundle}.mapidx`
const MAGIC = "TRPMIDX1"
const HEADER = 36

/**
 * Write the index of `<bundle>.map` next to it (the parent, once per bundle it builds). Best
 * effort: a failure leaves no index, and a child then reads the map itself.
 */
export const writeMapIndex = (bundle: string): void => {
  const out = indexFile(bundle)
  const tmp = `${out}.tmp-${process.pid}`
  try {
    const st = statSync(`${bundle}.map`)
    const raw = JSON.parse(readFileSync(`${bundle}.map`, "utf8"))
    if (typeof raw.mappings !== "string" || !Array.isArray(raw.sources)) return
    const ix = index(raw.mappings)
    const mappings = ix.bytes(0, ix.length)
    const sources = Buffer.from(JSON.stringify(sourcesOf(raw)), "utf8")
    const padded = (sources.length + 3) & ~3
    const buf = Buffer.alloc(HEADER + padded + ix.checkpoints.byteLength + mappings.length)
    buf.write(MAGIC, 0, "latin1")
    buf.writeDoubleLE(st.mtimeMs, 8)
    buf.writeDoubleLE(st.size, 16)
    buf.writeUInt32LE(sources.length, 24)
    buf.writeUInt32LE(ix.checkpoints.length / STRIDE, 28)
    buf.writeUInt32LE(mappings.length, 32)
    sources.copy(buf, HEADER)
    Buffer.from(ix.checkpoints.buffer, ix.checkpoints.byteOffset, ix.checkpoints.byteLength).copy(buf, HEADER + padded)
    Buffer.from(mappings.buffer, mappings.byteOffset, mappings.length).copy(buf, HEADER + padded + ix.checkpoints.byteLength)
    writeFileSync(tmp, buf)
    renameSync(tmp, out)
  } catch {
    rmSync(tmp, { force: true })
  }
}

/** `<bundle>.mapidx` exists (the parent writes it when it is missing). */
export const hasMapIndex = (bundle: string): boolean => {
  try {
    return statSync(indexFile(bundle)).isFile()
  } catch {
    return false
  }
}

const sourcesOf = (raw: { sourceRoot?: unknown; sources: ReadonlyArray<unknown> }): Array<string> => {
  const root = typeof raw.sourceRoot === "string" && raw.sourceRoot !== "" ? raw.sourceRoot.replace(/\/?$/, "/") : ""
  return raw.sources.map((s) => `${root}${String(s)}`)
}

/** Read `length` bytes of `fd` at `position`; throws on a short read. */
const readAt = (fd: number, length: number, position: number): Buffer => {
  const buf = Buffer.allocUnsafe(length)
  if (readSync(fd, buf, 0, length, position) !== length) throw new Error("short read")
  return buf
}

/**
 * The index, when it is there and was made from the map as it is now: its header, sources and
 * checkpoints are read now, and each lookup reads only the `mappings` bytes it decodes.
 */
const readIndex = (bundle: string): LoadedMap | undefined => {
  const path = indexFile(bundle)
  let fd: number | undefined
  try {
    fd = openSync(path, "r")
    const header = readAt(fd, HEADER, 0)
    if (header.toString("latin1", 0, 8) !== MAGIC) return undefined
    const st = statSync(`${bundle}.map`)
    if (header.readDoubleLE(8) !== st.mtimeMs || header.readDoubleLE(16) !== st.size) return undefined
    const sourcesBytes = header.readUInt32LE(24)
    const count = header.readUInt32LE(28)
    const length = header.readUInt32LE(32)
    const at = HEADER + ((sourcesBytes + 3) & ~3)
    const base = at + count * STRIDE * 4
    if (base + length !== fstatSync(fd).size) return undefined
    const prefix = readAt(fd, base - HEADER, HEADER)
    const sources = JSON.parse(prefix.toString("utf8", 0, sourcesBytes))
    if (!Array.isArray(sources)) return undefined
    const checkpoints = new Int32Array(count * STRIDE)
    prefix.copy(Buffer.from(checkpoints.buffer), 0, at - HEADER)
    const bytes = (from: number, to: number): Uint8Array => {
      const f = openSync(path, "r")
      try {
        return readAt(f, Math.min(to, length) - from, base + from)
      } finally {
        closeSync(f)
      }
    }
    return { mappings: { checkpoints, length, bytes }, sources }
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

const load = (): LoadedMap | null => {
  if (map !== undefined) return map
  if (bundlePath === undefined) return null
  map = readIndex(bundlePath) ?? null
  if (map !== null) return map
  try {
    const raw = JSON.parse(readFileSync(`${bundlePath}.map`, "utf8"))
    map = typeof raw.mappings === "string" && Array.isArray(raw.sources)
      ? { mappings: index(raw.mappings), sources: sourcesOf(raw) }
      : null
  } catch {
    map = null
  }
  return map
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** `stack` with frames in the bundle rewritten to `source:line:column`. */
export const mapStack = (stack: string): string => {
  if (bundlePath === undefined || stack === "") return stack
  const file = bundlePath
  const pattern = new RegExp(`(?:${escape(pathToFileURL(file).href)}|${escape(file)}):(\\d+):(\\d+)`, "g")
  const frames = [...stack.matchAll(pattern)]
  if (frames.length === 0) return stack
  const m = load()
  if (m === null) return stack
  const unknown: Array<Position> = []
  const positions = frames.map((f) => {
    const key = `${f[1]}:${f[2]}`
    let p = found.get(key)
    if (p === undefined) {
      if (found.size >= maxFound) found.clear()
      p = { line: Number(f[1]) - 1, column: Number(f[2]) - 1 }
      found.set(key, p)
      unknown.push(p)
    }
    return p
  })
  // Filled in place: `found` holds the same objects. A read that fails leaves the rest unmapped.
  try {
    locate(m.mappings, unknown)
  } catch {
    // unmapped
  }
  const dir = dirname(file)
  let k = 0
  return stack.replace(pattern, (whole) => {
    const p = positions[k++]!
    const src = p.source === undefined ? undefined : m.sources[p.source]
    if (src === undefined) return whole
    const path = src.startsWith("file://") ? fileURLToPath(src) : resolve(dir, src)
    return `${path}:${p.originalLine! + 1}:${p.originalColumn! + 1}`
  })
}
