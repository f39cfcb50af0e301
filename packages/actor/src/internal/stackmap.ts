/**
 * Remote stacks that name the original sources in a bundled child, without paying for
 * `--enable-source-maps` at boot (~0.35 s here) nor for a full source-map parse when the first
 * error is boxed (`node:module`'s `SourceMap` decodes every mapping of the ~1.3 MB `mappings`
 * string into objects: ~170 ms on this machine, on the failing call's path).
 *
 * Instead, the map is read the first time an error is boxed, and its `mappings` are scanned once
 * per stack, decoding the Base64 VLQ fields in place (no allocation per segment) and stopping
 * after the last frame asked for: 15–25 ms for the whole map here. Format: Source Map v3 (ECMA-426,
 * "Source map format specification", section "Mappings structure").
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

interface LoadedMap {
  readonly mappings: MappingsIndex
  readonly sources: ReadonlyArray<string>
}

let bundlePath: string | undefined
let map: LoadedMap | null | undefined
/**
 * Frames already mapped, by bundle `line:column` (1-based, as in stacks): the same throw site
 * recurs, and a lookup far into one of the bundle's long lines scans up to it (~10 ms).
 */
const found = new Map<string, Position>()
/** At most this many frames are kept in `found` (it is cleared when full). */
const maxFound = 4096

/** Map frames of `path` (a bundle with a `.map` next to it) back to their sources. */
export const useBundleSourceMap = (path: string): void => {
  bundlePath = path
  map = undefined
  found.clear()
}

const load = (): LoadedMap | null => {
  if (map !== undefined) return map
  try {
    const raw = JSON.parse(readFileSync(`${bundlePath}.map`, "utf8"))
    const root = typeof raw.sourceRoot === "string" && raw.sourceRoot !== "" ? raw.sourceRoot.replace(/\/?$/, "/") : ""
    map = typeof raw.mappings === "string" && Array.isArray(raw.sources)
      ? { mappings: index(raw.mappings), sources: raw.sources.map((s: unknown) => `${root}${String(s)}`) }
      : null
  } catch {
    map = null
  }
  return map
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

/**
 * Where each generated line starts in `mappings`, with the running source, original line and
 * original column there (they carry over from line to line), filled in as scans pass: a later
 * lookup scans only from the start of the first line it needs.
 */
export interface MappingsIndex {
  readonly mappings: string
  /** Per line already reached: [offset, source, original line, original column]. */
  readonly lines: Array<readonly [number, number, number, number]>
}

export const index = (mappings: string): MappingsIndex => ({ mappings, lines: [[0, 0, 0, 0]] })

/**
 * Fill in the original position of every one of `positions` (sorted by line, then column): the
 * last segment on the same generated line whose column is at or before it (a segment without a
 * source leaves it unmapped). Malformed input leaves what was not settled before it unmapped; it
 * never throws.
 */
export const locate = (mappingsIndex: MappingsIndex, positions: ReadonlyArray<Position>): void => {
  if (positions.length === 0) return
  const { lines, mappings } = mappingsIndex
  let line = Math.min(positions[0]!.line, lines.length - 1)
  let [i, source, originalLine, originalColumn] = lines[line]!
  let next = 0
  let column = 0
  let fields = 0
  let value = 0
  let shift = 0
  // The last complete segment on the current line, if it has a source (else `bestSource` is -1).
  let bestSource = -1
  let bestLine = 0
  let bestColumn = 0
  const n = mappings.length
  for (; next < positions.length; i++) {
    const c = i < n ? mappings.charCodeAt(i) : 59
    if (c === 44 /* , */ || c === 59 /* ; */) {
      if (shift !== 0) return
      if (fields > 0) {
        // Every position before this segment is settled by the last segment before it.
        while (next < positions.length) {
          const p = positions[next]!
          if (p.line > line || (p.line === line && p.column >= column)) break
          if (p.line === line && bestSource >= 0) {
            p.source = bestSource
            p.originalLine = bestLine
            p.originalColumn = bestColumn
          }
          next++
        }
        bestSource = fields >= 4 ? source : -1
        bestLine = originalLine
        bestColumn = originalColumn
        fields = 0
        // Done with this line, and the next line needed was reached before: go straight there.
        const wanted = next < positions.length ? positions[next]!.line : -1
        if (wanted > line && wanted < lines.length) {
          line = wanted
          ;[i, source, originalLine, originalColumn] = lines[line]!
          i--
          column = 0
          bestSource = -1
          continue
        }
      }
      if (c === 59) {
        while (next < positions.length && positions[next]!.line <= line) {
          const p = positions[next++]!
          if (p.line === line && bestSource >= 0) {
            p.source = bestSource
            p.originalLine = bestLine
            p.originalColumn = bestColumn
          }
        }
        if (i >= n) return
        line++
        column = 0
        bestSource = -1
        if (line === lines.length) lines.push([i + 1, source, originalLine, originalColumn])
      }
      continue
    }
    const digit = c < 128 ? BASE64[c]! : -1
    if (digit < 0) return
    value |= (digit & 31) << shift
    if ((digit & 32) !== 0) {
      shift += 5
      // Values past 2^30 are not positions in any real bundle: malformed.
      if (shift > 25) return
      continue
    }
    const delta = (value & 1) === 1 ? -(value >>> 1) : value >>> 1
    value = 0
    shift = 0
    if (fields === 0) column += delta
    else if (fields === 1) source += delta
    else if (fields === 2) originalLine += delta
    else if (fields === 3) originalColumn += delta
    fields++
  }
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
  // Filled in place: `found` holds the same objects.
  locate(m.mappings, unknown.sort((a, b) => a.line - b.line || a.column - b.column))
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
