// The source-map lookup that maps remote stacks of bundled children (internal/stackmap.ts),
// against Node's own `SourceMap` as the oracle, on generated maps, with checkpoints at several
// strides; and the index file the parent writes next to a bundle.
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  hasMapIndex,
  index,
  locate,
  mapStack,
  type Position,
  useBundleSourceMap,
  writeMapIndex
} from "../../packages/actor/src/internal/stackmap.js"

const DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** One Base64 VLQ value (ECMA-426). */
const vlq = (n: number): string => {
  let v = n < 0 ? (-n << 1) | 1 : n << 1
  let out = ""
  do {
    let digit = v & 31
    v >>>= 5
    if (v > 0) digit |= 32
    out += DIGITS[digit]
  } while (v > 0)
  return out
}

/** A generated segment: its column, and (unless unmapped) source, original line and column. */
type Segment = readonly [column: number, mapped: readonly [source: number, line: number, column: number] | null]

const encode = (lines: ReadonlyArray<ReadonlyArray<Segment>>): string => {
  let source = 0
  let line = 0
  let column = 0
  return lines.map((segments) => {
    let generated = 0
    return segments.map(([col, mapped]) => {
      let s = vlq(col - generated)
      generated = col
      if (mapped !== null) {
        s += vlq(mapped[0] - source) + vlq(mapped[1] - line) + vlq(mapped[2] - column)
        ;[source, line, column] = mapped
      }
      return s
    }).join(",")
  }).join(";")
}

const segmentLine = fc.uniqueArray(fc.nat({ max: 5000 }), { maxLength: 12 }).chain((cols) =>
  fc.tuple(
    ...[...cols].sort((a, b) => a - b).map((col) =>
      fc.tuple(
        fc.constant(col),
        fc.option(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 100_000 }), fc.nat({ max: 400 })), { freq: 5 })
      )
    )
  )
) as fc.Arbitrary<ReadonlyArray<Segment>>

// Positions anywhere, and exactly on segments' columns (and one before them).
const mapAndPositions = fc.array(segmentLine, { minLength: 1, maxLength: 8 }).chain((lines) => {
  const onSegments = lines.flatMap((segments, line) => segments.flatMap(([column]) => [[line, column], [line, Math.max(0, column - 1)]] as const))
  return fc.tuple(
    fc.constant(lines),
    fc.array(
      onSegments.length === 0
        ? fc.tuple(fc.nat({ max: 9 }), fc.nat({ max: 5100 }))
        : fc.oneof(fc.tuple(fc.nat({ max: 9 }), fc.nat({ max: 5100 })), fc.constantFrom(...onSegments)),
      { minLength: 1, maxLength: 20 }
    )
  )
})

describe("stack map scan", () => {
  it("finds what Node's SourceMap finds on the same generated line, and nothing elsewhere", () => {
    fc.assert(
      fc.property(mapAndPositions, ([lines, asked]) => {
        const mappings = encode(lines)
        // The trailing ";" keeps Node 20's parser from reading a last one-field segment as mapped.
        const oracle = new SourceMap({ version: 3, file: "b.cjs", sources: ["0", "1", "2", "3"], sourcesContent: [], sourceRoot: "", names: [], mappings: `${mappings};` })
        const sorted = (ps: ReadonlyArray<readonly [number, number]>): Array<Position> =>
          ps.map(([line, column]) => ({ line, column })).sort((a, b) => a.line - b.line || a.column - b.column)
        const check = (positions: ReadonlyArray<Position>) => {
          for (const p of positions) {
            const e = oracle.findEntry(p.line, p.column) as {
              generatedLine?: number
              originalSource?: string
              originalLine?: number
              originalColumn?: number
            }
            const expected = e.generatedLine === p.line && e.originalSource !== undefined
              ? { source: Number(e.originalSource), originalLine: e.originalLine, originalColumn: e.originalColumn }
              : { source: undefined, originalLine: undefined, originalColumn: undefined }
            expect({ source: p.source, originalLine: p.originalLine, originalColumn: p.originalColumn }).toEqual(expected)
          }
        }
        // A checkpoint on every segment, every few, and none past the first (the default stride).
        for (const every of [1, 2, 3, 64]) {
          const shared = index(mappings, every)
          const half = Math.ceil(asked.length / 2)
          for (const part of [asked.slice(half), asked.slice(0, half), asked]) {
            const positions = sorted(part)
            locate(shared, positions)
            check(positions)
          }
        }
      }),
      { numRuns: 300, seed: 20261204 }
    )
  })

  it("leaves positions unmapped on malformed mappings, and never throws", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.nat({ max: 3 }), fc.nat({ max: 300 }), (mappings, line, column) => {
        const p: { line: number; column: number; source?: number } = { line, column }
        expect(() => locate(index(mappings, 1), [p])).not.toThrow()
        if (p.source !== undefined) expect(Number.isInteger(p.source)).toBe(true)
      }),
      { numRuns: 300, seed: 20261204 }
    )
    // What was settled before the bad character keeps its mapping; the rest stays unmapped.
    const before: { line: number; column: number; source?: number } = { line: 0, column: 3 }
    const after: { line: number; column: number; source?: number } = { line: 0, column: 10 }
    locate(index("AAAA,KCAA,!"), [before, after])
    expect(before.source).toBe(0)
    expect(after.source).toBeUndefined()
  })

  it("maps a bundle's stack the same from the index file as from the map, and ignores a stale index", () => {
    const dir = mkdtempSync(join(tmpdir(), "troupe-stackmap-"))
    try {
      const bundle = join(dir, "b.cjs")
      // Line 1: columns 0 and 10 from a.ts lines 1 and 5; line 2: column 4 from b.ts line 9 (0-based in the map).
      const mapOf = (mappings: string) => JSON.stringify({ version: 3, sources: ["a.ts", "b.ts"], names: [], mappings })
      writeFileSync(`${bundle}.map`, mapOf("AAAA,UAIA;ICIA"))
      const stack = `Error: x\n    at f (${bundle}:1:12)\n    at g (${bundle}:2:5)\n    at h (${bundle}:1:1)`
      const expected = `Error: x\n    at f (${join(dir, "a.ts")}:5:1)\n    at g (${join(dir, "b.ts")}:9:1)\n    at h (${join(dir, "a.ts")}:1:1)`
      useBundleSourceMap(bundle)
      expect(mapStack(stack)).toBe(expected)
      expect(hasMapIndex(bundle)).toBe(false)
      writeMapIndex(bundle)
      expect(hasMapIndex(bundle)).toBe(true)
      useBundleSourceMap(bundle)
      expect(mapStack(stack)).toBe(expected)
      // The map replaced (another mtime and size) while the index stayed: the index is not used.
      writeFileSync(`${bundle}.map`, mapOf("AAAA,UAIA;IAAA"))
      utimesSync(`${bundle}.map`, new Date(), new Date(Date.now() + 5000))
      useBundleSourceMap(bundle)
      expect(mapStack(stack)).toBe(expected.replace(`${join(dir, "b.ts")}:9:1`, `${join(dir, "a.ts")}:5:1`))
      // A damaged index is not used either.
      writeFileSync(`${bundle}.mapidx`, "TRPMIDX1 and not much else")
      useBundleSourceMap(bundle)
      expect(mapStack(stack)).toBe(expected.replace(`${join(dir, "b.ts")}:9:1`, `${join(dir, "a.ts")}:5:1`))
    } finally {
      useBundleSourceMap("")
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
