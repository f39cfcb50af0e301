// The child bundle cache's pruning (backend/process/bundleCache.ts): least recently used entries
// go first down to the bounds; entries used within the grace period, and work in progress, stay.
import { describe, expect, it } from "@effect/vitest"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { prune, touch } from "../../packages/actor/src/backend/process/bundleCache.js"

const minute = 60_000
const now = Date.now()

/** A fake entry `key` of `bytes` per file, last used `ageMs` ago. */
const entry = (dir: string, key: string, ageMs: number, bytes = 100) => {
  const at = new Date(now - ageMs)
  for (const f of [`${key}.cjs`, `${key}.cjs.map`, `${key}.cjs.v8cache`, `${key}.json`]) {
    writeFileSync(join(dir, f), "x".repeat(bytes))
    utimesSync(join(dir, f), at, at)
  }
}

const keys = (dir: string) => [...new Set(readdirSync(dir).filter((n) => !n.startsWith(".")).map((n) => n.split(".")[0]))].sort()

const withDir = (body: (dir: string) => void) => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-bundle-cache-"))
  try {
    body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("bundle cache pruning", () => {
  it("keeps the most recently used entries up to maxEntries; an entry's files go together", () =>
    withDir((dir) => {
      entry(dir, "a", 60 * minute)
      entry(dir, "b", 50 * minute)
      entry(dir, "c", 40 * minute)
      entry(dir, "d", 30 * minute)
      const r = prune(dir, { maxEntries: 2, maxBytes: 1e9, inUseGraceMs: minute }, now)
      expect(keys(dir)).toEqual(["c", "d"])
      expect([...r.removed].sort()).toEqual(["a", "b"])
      expect(r.kept).toBe(2)
      expect(readdirSync(dir).filter((n) => n.startsWith("a."))).toEqual([])
    }))

  it("keeps entries up to maxBytes (all files of an entry counted)", () =>
    withDir((dir) => {
      entry(dir, "a", 30 * minute, 1000)
      entry(dir, "b", 20 * minute, 1000)
      entry(dir, "c", 10 * minute, 1000)
      const r = prune(dir, { maxEntries: 100, maxBytes: 8500, inUseGraceMs: minute }, now)
      expect(keys(dir)).toEqual(["b", "c"])
      expect(r.keptBytes).toBe(8000)
    }))

  it("never removes an entry used within the grace period, even past the bounds", () =>
    withDir((dir) => {
      entry(dir, "old", 60 * minute)
      entry(dir, "busy1", 1000)
      entry(dir, "busy2", 2000)
      prune(dir, { maxEntries: 1, maxBytes: 1, inUseGraceMs: minute }, now)
      expect(keys(dir)).toEqual(["busy1", "busy2"])
    }))

  it("touch marks an entry used: it survives, an older one goes", () =>
    withDir((dir) => {
      entry(dir, "a", 60 * minute)
      entry(dir, "b", 30 * minute)
      touch(join(dir, "a.json"))
      expect(Date.now() - statSync(join(dir, "a.json")).mtimeMs).toBeLessThan(minute)
      prune(dir, { maxEntries: 1, maxBytes: 1e9, inUseGraceMs: minute }, Date.now())
      expect(keys(dir)).toEqual(["a"])
    }))

  it("removes a bundler's temporary directory and stray temporary files only once they are older than the grace period", () =>
    withDir((dir) => {
      const old = new Date(now - 60 * minute)
      mkdirSync(join(dir, ".tmp-111"))
      writeFileSync(join(dir, ".tmp-111", "x.cjs"), "x")
      utimesSync(join(dir, ".tmp-111"), old, old)
      mkdirSync(join(dir, ".tmp-222"))
      entry(dir, "k", 1000)
      writeFileSync(join(dir, "k.cjs.v8cache.9-0.tmp"), "x")
      utimesSync(join(dir, "k.cjs.v8cache.9-0.tmp"), old, old)
      const r = prune(dir, { maxEntries: 10, maxBytes: 1e9, inUseGraceMs: minute }, now)
      expect(existsSync(join(dir, ".tmp-111"))).toBe(false)
      expect(existsSync(join(dir, ".tmp-222"))).toBe(true)
      expect(existsSync(join(dir, "k.cjs.v8cache.9-0.tmp"))).toBe(false)
      expect(keys(dir)).toEqual(["k"])
      expect(r.removed).toContain(".tmp-111")
    }))

  it("a missing directory is an empty cache", () => {
    expect(prune(join(tmpdir(), "troupe-no-such-dir-" + String(now)), { maxEntries: 1, maxBytes: 1, inUseGraceMs: 1 }, now))
      .toEqual({ removed: [], kept: 0, keptBytes: 0 })
  })
})
