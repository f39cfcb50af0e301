// The demo's runtime-independent parts: walker, hasher, tree digest, single-process pass,
// /proc descendants, progress rendering. No actors here (see demo.test.ts).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { chunkBytes, hashFile, hashFileNow } from "../../examples/hashtree/HashFile.js"
import { isAlive, liveDescendants } from "../../examples/hashtree/ProcTree.js"
import { ProgressState, renderPlain, renderTty } from "../../examples/hashtree/Progress.js"
import { singleProcess } from "../../examples/hashtree/SingleProcess.js"
import { table } from "../../examples/hashtree/Summary.js"
import { budgetBytesPerFile, collapse, type DirResult, foldDir, handBack, HasherLive, type Walk, walkDirs, walkFrom } from "../../examples/hashtree/Hasher.js"
import { firstBatches, splitFrontier } from "../../examples/hashtree/Parallel.js"
import { digestOf, dirDigest, filesDigest, TreeDigest } from "../../examples/hashtree/TreeDigest.js"
import { listDir, makeStats } from "../../examples/hashtree/Walker.js"

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex")

/**
 * Tasks' records folded as the demo's root does (`foldDir`), each directory's record checked to
 * come once (a record inside a subtree already added throws in the TreeDigest).
 */
const folder = () => {
  const tree = new TreeDigest()
  const stats = makeStats()
  const walked = new Set<string>()
  const fold = (results: ReadonlyArray<DirResult>, context: string) => {
    for (const r of results) {
      expect(walked.has(r.dir), `${r.dir} walked twice (${context})`).toBe(false)
      walked.add(r.dir)
      foldDir(tree, stats, r)
    }
  }
  return Object.assign(fold, { tree, stats })
}

let dir: string
const files = new Map<string, Buffer>()

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "troupe-hashtree-"))
  const put = (rel: string, content: Buffer) => {
    mkdirSync(join(dir, rel, ".."), { recursive: true })
    writeFileSync(join(dir, rel), content)
    files.set(rel, content)
  }
  put("top.txt", Buffer.from("top\n"))
  put("empty", Buffer.alloc(0))
  for (let i = 0; i < 300; i++) put(`many/f${i}`, Buffer.from(`file ${i}\n`.repeat(i)))
  put("a/b/c/deep.bin", Buffer.from([0, 1, 2, 3, 255]))
  put("a/b/sibling", Buffer.from("sibling"))
  put("name with spaces/é ü.txt", Buffer.from("unicode"))
  // Symlinks are never followed, to files or directories (pnpm's node_modules is made of them).
  symlinkSync(join(dir, "top.txt"), join(dir, "link-to-file"))
  symlinkSync(join(dir, "a"), join(dir, "link-to-dir"))
  symlinkSync("/nonexistent/target", join(dir, "dangling"))
  mkdirSync(join(dir, "empty-dir"))
})

afterAll(() => {
  try {
    chmodSync(join(dir, "locked"), 0o700)
  } catch {}
  rmSync(dir, { recursive: true, force: true })
})

describe("walker", () => {
  it.effect("the walk finds every regular file once, skipping symlinks, and lists from the root down visit exactly them", () =>
    Effect.gen(function*() {
      const r = yield* singleProcess(dir)
      expect(r.walk.files).toBe(files.size)
      expect(r.walk.skippedEntries).toBe(3)
      expect(r.walk.unreadableDirs).toBe(0)
      const listed: Array<string> = []
      let skipped = 0
      const pending = [""]
      while (pending.length > 0) {
        const l = listDir(dir, pending.pop()!)
        listed.push(...l.files)
        pending.push(...l.dirs)
        skipped += l.skippedEntries
      }
      expect(listed.sort()).toEqual([...files.keys()].sort())
      expect(skipped).toBe(3) // the symlinks
      expect(listDir(dir, "no/such/dir")).toMatchObject({ files: [], dirs: [], unreadable: true })
    }))

  it.effect("each walk starts afresh, and leaves no descriptor open", () =>
    Effect.gen(function*() {
      const fds = () => readdirSync("/proc/self/fd").length
      const before = fds()
      for (let i = 0; i < 20; i++) expect((yield* singleProcess(dir)).walk.files).toBe(files.size)
      expect(fds()).toBeLessThanOrEqual(before + 2)
    }))

  it.effect("a budgeted walk stops taking directories once the budget is spent and hands back the rest in order", () =>
    Effect.gen(function*() {
      // Root first ("" holds top.txt and empty), then its subdirectories in listing order.
      const all = yield* walkDirs(dir, [""], Infinity)
      expect(all.frontier).toEqual([])
      const some = yield* walkDirs(dir, [""], 1)
      expect(some.results.map((r) => r.dir)).toEqual([""])
      expect(some.frontier).toEqual(listDir(dir, "").dirs)
      // Walking the frontier in order gives the rest of the unbudgeted walk, in the same order.
      const rest = yield* walkDirs(dir, some.frontier, Infinity)
      expect([...some.results, ...rest.results].map((r) => r.dir)).toEqual(all.results.map((r) => r.dir))
      // The budget: no directory is taken once it is spent, and one always is.
      for (const budget of [0, 1, 7, 301]) {
        const { results } = yield* walkDirs(dir, [""], budget)
        const files = results.reduce((n, r) => n + r.files, 0)
        expect(results.length).toBeGreaterThan(0)
        expect(files - results[results.length - 1]!.files).toBeLessThan(Math.max(1, budget))
      }
    }))

  it.effect("a task's budget counts a file's bytes too: large files spend it sooner than their number", () =>
    Effect.gen(function*() {
      const t = mkdtempSync(join(tmpdir(), "troupe-budget-"))
      try {
        mkdirSync(join(t, "big"))
        mkdirSync(join(t, "small"))
        // 4 files of 10 × budgetBytesPerFile bytes: 44 files' worth; 10 empty files: 10.
        for (let i = 0; i < 4; i++) writeFileSync(join(t, "big", `b${i}`), Buffer.alloc(10 * budgetBytesPerFile, i))
        for (let i = 0; i < 10; i++) writeFileSync(join(t, "small", `s${i}`), "")
        const big = yield* walkDirs(t, ["big", "small"], 20)
        expect(big.results.map((r) => r.dir)).toEqual(["big"])
        expect(big.frontier).toEqual(["small"])
        // The same number of files, without the bytes, fits the budget whole.
        const small = yield* walkDirs(t, ["small", "big"], 20)
        expect(small.results.map((r) => r.dir)).toEqual(["small", "big"])
        expect(small.frontier).toEqual([])
      } finally {
        rmSync(t, { recursive: true, force: true })
      }
    }))

  it.effect("a walk's records collapse into one per subtree walked whole and one per directory with part of its subtree left", () =>
    Effect.gen(function*() {
      // A whole walk: one record, the root's subtree.
      const all = yield* walkFrom(dir, [""], Infinity)
      expect(all.results.map((r) => [r.dir, r.kind])).toEqual([["", "tree"]])
      // A budget of 7 files: the root and "a" keep their own records ("a/b" and so on are in the
      // frontier, or "many" is); every subtree the walk finished is one record, none inside another.
      for (const budget of [1, 7, 301]) {
        const raw = yield* walkDirs(dir, [""], budget)
        const { frontier, results } = yield* walkFrom(dir, [""], budget)
        expect(frontier).toEqual(raw.frontier)
        expect(results).toEqual(collapse(raw.results, raw.frontier))
        const under = (d: string, parent: string) => parent === "" ? d !== "" : d.startsWith(`${parent}/`)
        for (const r of results) {
          const open = frontier.some((f) => under(f, r.dir))
          expect(r.kind, `${r.dir} with ${budget}`).toBe(open ? "dir" : "tree")
          if (r.kind === "tree") for (const o of results) expect(under(o.dir, r.dir), `${o.dir} under ${r.dir}`).toBe(false)
        }
        const sum = (k: "files" | "bytes" | "dirs" | "unreadableDirs" | "skippedEntries") => (rs: ReadonlyArray<Record<typeof k, number>>) => rs.reduce((n, r) => n + r[k], 0)
        for (const k of ["files", "bytes", "dirs", "unreadableDirs", "skippedEntries"] as const) expect(sum(k)(results)).toBe(sum(k)(raw.results))
        expect(results.length).toBeLessThanOrEqual(raw.results.length)
      }
      // A subtree's digest is the one its files give, added one by one.
      const many = [...files].filter(([p]) => p.startsWith("many/")).map(([p, c]) => ({ path: p, bytes: c.length, sha256: sha(c) }))
      const sub = (yield* walkFrom(dir, ["many"], Infinity)).results
      expect(sub.map((r) => [r.dir, r.kind, r.files])).toEqual([["many", "tree", 300]])
      const t = new TreeDigest()
      t.addTree("many", { digest: sub[0]!.digest!, files: 300, bytes: sub[0]!.bytes })
      expect(t.digest()).toBe(digestOf(many))
    }))

  it.effect("a root that is missing or not a directory yields nothing", () =>
    Effect.gen(function*() {
      for (const root of [join(dir, "missing"), join(dir, "top.txt")]) {
        const r = yield* singleProcess(root)
        expect([r.walk.files, r.walk.unreadableDirs, r.tree.files]).toEqual([0, 1, 0])
      }
    }))

  it.effect.skipIf(process.getuid?.() === 0)("an unreadable directory is skipped and counted (non-root only)", () =>
    Effect.gen(function*() {
      mkdirSync(join(dir, "locked"))
      writeFileSync(join(dir, "locked", "secret"), "x")
      chmodSync(join(dir, "locked"), 0)
      const r = yield* singleProcess(dir)
      chmodSync(join(dir, "locked"), 0o700)
      rmSync(join(dir, "locked"), { recursive: true })
      expect(r.walk.files).toBe(files.size)
      expect(r.walk.unreadableDirs).toBe(1)
    }))
})

describe("hashFile", () => {
  it.effect("matches sha256 of the content, for empty, small and multi-chunk files", () =>
    Effect.gen(function*() {
      const big = Buffer.alloc(chunkBytes * 2 + 12345)
      for (let i = 0; i < big.length; i += 4096) big[i] = i % 251
      const bigPath = join(dir, "..", `${Date.now()}-big.bin`)
      writeFileSync(bigPath, big)
      try {
        const r = yield* hashFile(bigPath)
        expect(r).toEqual({ path: bigPath, bytes: big.length, sha256: sha(big), error: null })
      } finally {
        rmSync(bigPath)
      }
      for (const rel of ["empty", "top.txt", "many/f299"]) {
        const r = yield* hashFile(rel, dir)
        expect(r).toEqual({ path: rel, bytes: files.get(rel)!.length, sha256: sha(files.get(rel)!), error: null })
      }
    }))

  it.effect("hashFileNow: a file within one chunk at once, a larger one as an Effect; no descriptor left open either way, run or not", () =>
    Effect.gen(function*() {
      const big = Buffer.alloc(chunkBytes + 1, 7)
      const bigPath = join(dir, "..", `${process.pid}-${Date.now()}-now.bin`)
      writeFileSync(bigPath, big)
      const fds = () => readdirSync("/proc/self/fd").length
      try {
        expect(hashFileNow("top.txt", dir)).toEqual({ path: "top.txt", bytes: 4, sha256: sha("top\n"), error: null })
        const before = fds()
        for (let i = 0; i < 20; i++) expect(Effect.isEffect(hashFileNow(bigPath))).toBe(true) // never run
        expect(fds()).toBe(before)
        for (let i = 0; i < 20; i++) {
          const r = hashFileNow(bigPath)
          expect(Effect.isEffect(r) && (yield* r)).toEqual({ path: bigPath, bytes: big.length, sha256: sha(big), error: null })
        }
        // Not exact: a run yields, and the test process may open a descriptor of its own meanwhile;
        // a leak would leave 20.
        expect(fds()).toBeLessThanOrEqual(before + 2)
      } finally {
        rmSync(bigPath)
      }
    }))

  it.effect("an unreadable or vanished file is reported, not failed", () =>
    Effect.gen(function*() {
      expect(yield* hashFile("gone", dir)).toEqual({ path: "gone", bytes: 0, sha256: null, error: "ENOENT" })
      expect((yield* hashFile("a", dir)).error).toBe("EISDIR")
    }))

  it.effect("concurrent hashing through the shared buffer gives the same answers", () =>
    Effect.gen(function*() {
      const rels = [...files.keys()]
      const rs = yield* Effect.forEach(rels, (p) => hashFile(p, dir), { concurrency: 16 })
      for (const r of rs) expect(r.sha256).toBe(sha(files.get(r.path)!))
    }))
})

describe("tree digest", () => {
  const entries = Array.from({ length: 200 }, (_, i) => ({
    path: `d${i % 7}/e${i % 3}/file-${i}`,
    bytes: i,
    sha256: sha(String(i))
  }))

  it("is independent of arrival order", () => {
    const reference = digestOf(entries)
    for (let seed = 1; seed <= 5; seed++) {
      const shuffled = [...entries]
      let x = seed
      for (let i = shuffled.length - 1; i > 0; i--) {
        x = (x * 1103515245 + 12345) % 2 ** 31
        const j = x % (i + 1)
        ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
      }
      expect(digestOf(shuffled)).toBe(reference)
    }
    expect(digestOf([...entries].reverse())).toBe(reference)
  })

  it("changes with any content, size, name or placement change", () => {
    const reference = digestOf(entries)
    const variants = [
      entries.map((e, i) => (i === 17 ? { ...e, sha256: sha("other") } : e)),
      entries.map((e, i) => (i === 17 ? { ...e, bytes: e.bytes + 1 } : e)),
      entries.map((e, i) => (i === 17 ? { ...e, path: e.path + "x" } : e)),
      entries.map((e, i) => (i === 17 ? { ...e, path: `moved/${e.path}` } : e)),
      entries.slice(1)
    ]
    const digests = new Set([reference, ...variants.map(digestOf)])
    expect(digests.size).toBe(variants.length + 1)
  })

  it("is not fooled by a file and a directory of the same name, or by separators in names", () => {
    expect(digestOf([{ path: "a/b", bytes: 1, sha256: sha("x") }])).not.toBe(
      digestOf([{ path: "a", bytes: 1, sha256: sha("x") }])
    )
    const t = new TreeDigest()
    t.add("x/y", 1, sha("1"))
    expect(() => t.add("x/y", 1, sha("1"))).toThrow(/twice/)
    expect(() => t.add("x", 1, sha("1"))).toThrow(/twice/)
  })

  it("counts files and bytes, and keeps unreadable files apart", () => {
    const t = new TreeDigest()
    t.addResult({ path: "a", bytes: 3, sha256: sha("abc"), error: null })
    t.addResult({ path: "b", bytes: 0, sha256: null, error: "EACCES" })
    expect([t.files, t.bytes, t.skipped]).toEqual([1, 3, [{ path: "b", error: "EACCES" }]])
    expect(t.digest()).toBe(digestOf([{ path: "a", bytes: 3, sha256: sha("abc") }]))
  })

  it("a directory's files added at once (addDir) give the digest of adding them one by one", () => {
    const byDir = new Map<string, Array<readonly [string, number, string]>>()
    for (const e of entries) {
      const cut = e.path.lastIndexOf("/")
      const d = e.path.slice(0, cut)
      byDir.set(d, [...(byDir.get(d) ?? []), [e.path.slice(cut + 1), e.bytes, e.sha256] as const])
    }
    const t = new TreeDigest()
    for (const [d, fs] of [...byDir].reverse()) {
      t.addDir(d, { filesDigest: filesDigest(fs), files: fs.length, bytes: fs.reduce((n, f) => n + f[1], 0) })
    }
    t.addDir("d9/empty", { filesDigest: filesDigest([]), files: 0, bytes: 0 })
    expect([t.digest(), t.files, t.bytes]).toEqual([digestOf(entries), entries.length, entries.reduce((n, e) => n + e.bytes, 0)])
    const [d0, fs0] = [...byDir][0]!
    expect(() => t.addDir(d0, { filesDigest: filesDigest(fs0), files: fs0.length, bytes: 0 })).toThrow(/twice/)
    expect(() => t.add(`${d0}/${fs0[0]![0]}`, 1, sha("x"))).toThrow(/twice/)
    // A file's order within its directory does not matter; its name, size and content do.
    expect(filesDigest([...fs0].reverse())).toBe(filesDigest(fs0))
    expect(filesDigest(fs0.map((f, i) => (i === 0 ? [f[0], f[1] + 1, f[2]] as const : f)))).not.toBe(filesDigest(fs0))
  })

  it("a subtree added at once (addTree) gives the digest of adding its files one by one; nothing more goes in it", () => {
    // "d1" as one subtree: its digest from its files' digest and its subdirectories' (dirDigest).
    const inD1 = entries.filter((e) => e.path.startsWith("d1/"))
    const digestOfDir = (prefix: string): string | null => {
      const own = inD1.filter((e) => e.path.slice(0, e.path.lastIndexOf("/")) === prefix)
      const subs = [...new Set(inD1.filter((e) => e.path.startsWith(`${prefix}/`)).map((e) => e.path.slice(prefix.length + 1).split("/")).filter((p) => p.length > 1).map((p) => p[0]!))]
      if (own.length === 0 && subs.length === 0) return null
      return dirDigest(
        own.length > 0 ? filesDigest(own.map((e) => [e.path.slice(prefix.length + 1), e.bytes, e.sha256] as const)) : null,
        subs.map((s) => [s, digestOfDir(`${prefix}/${s}`)!] as const)
      )
    }
    expect(inD1.length).toBeGreaterThan(0)
    const t = new TreeDigest()
    for (const e of entries) if (!e.path.startsWith("d1/")) t.add(e.path, e.bytes, e.sha256)
    t.addTree("d1", { digest: digestOfDir("d1")!, files: inD1.length, bytes: inD1.reduce((n, e) => n + e.bytes, 0) })
    expect([t.digest(), t.files, t.bytes]).toEqual([digestOf(entries), entries.length, entries.reduce((n, e) => n + e.bytes, 0)])
    expect(() => t.addTree("d1", { digest: "x", files: 1, bytes: 0 })).toThrow(/twice/)
    expect(() => t.add("d1/new", 1, sha("x"))).toThrow(/twice/)
    expect(() => t.addDir("d1/deeper/still", { filesDigest: "x", files: 1, bytes: 0 })).toThrow(/twice/)
    // A subtree with no readable file adds nothing.
    t.addTree("nothing/here", { digest: "x", files: 0, bytes: 0 })
    expect(t.digest()).toBe(digestOf(entries))
  })

  it.effect("the hasher's directory records, folded as the demo's root does, equal the single-process pass, whatever the budget", () =>
    Effect.gen(function*() {
      const one = yield* singleProcess(dir)
      for (const budget of [0, 1, 7, 1_000_000]) {
        const fold = folder()
        let todo: ReadonlyArray<string> = [""]
        let tasks = 0
        while (todo.length > 0) {
          // Hand the frontier out as the demo's root does (here all to one actor, one task at a time).
          const [first, ...rest] = splitFrontier(todo, 3, 2)
          const { frontier, results } = yield* HasherLive.handlers.hashDirs({ root: dir, dirs: first!, budget, failAfter: null, throttleMs: 0 })
          tasks++
          expect(results.length).toBeGreaterThan(0)
          fold(results, `budget ${budget}`)
          todo = [...frontier, ...rest.flat()]
        }
        expect(fold.stats.dirs, `budget ${budget}`).toBe(one.walk.dirs)
        expect([fold.tree.digest(), fold.tree.files, fold.tree.bytes]).toEqual([one.tree.digest(), files.size, one.tree.bytes])
        if (budget === 0) expect(tasks).toBe(one.walk.dirs)
      }
    }))

  it("handBack takes the bottom half of each started walk's stack (rounded up), in walk order, and records it", () => {
    const fresh: Walk = { stack: ["c", "b", "a"], handedBack: [], started: false }
    const busy: Walk = { stack: ["z", "y", "x", "w", "v"], handedBack: [], started: true }
    const last: Walk = { stack: ["only"], handedBack: [], started: true }
    const done: Walk = { stack: [], handedBack: [], started: true }
    expect(handBack([fresh, busy, last, done])).toEqual(["x", "y", "z", "only"])
    expect(fresh.stack).toEqual(["c", "b", "a"])
    expect([busy.stack, busy.handedBack]).toEqual([["w", "v"], ["x", "y", "z"]])
    expect([last.stack, last.handedBack]).toEqual([[], ["only"]])
    expect(handBack([fresh, done])).toEqual([])
  })

  it.effect("work stealing: directories handed back at any point of a walk, walked as tasks of their own, fold to the single-process pass", () =>
    Effect.gen(function*() {
      const one = yield* singleProcess(dir)
      // A steal after the k-th file of every task (what a handBack does between two directories
      // or two files of a walk), until no task has anything left to give.
      for (const k of [1, 2, 5, 50, 299, 10_000]) {
        const fold = folder()
        let stolen = 0
        const todo: Array<ReadonlyArray<string>> = [[""]]
        while (todo.length > 0) {
          const running = new Set<Walk>()
          let n = 0
          const hashOne = (path: string) => {
            if (++n === k) {
              const taken = handBack(running)
              stolen += taken.length
              if (taken.length > 0) todo.push(taken)
            }
            return hashFileNow(path, dir)
          }
          const { frontier, results } = yield* walkFrom(dir, todo.shift()!, Infinity, hashOne, running)
          expect(frontier).toEqual([])
          expect(running.size).toBe(0)
          fold(results, `steal after ${k}`)
        }
        expect(fold.stats.dirs, `steal after ${k}`).toBe(one.walk.dirs)
        expect([fold.tree.digest(), fold.tree.files, fold.tree.bytes]).toEqual([one.tree.digest(), files.size, one.tree.bytes])
        if (k <= 2) expect(stolen, `steal after ${k}`).toBeGreaterThan(0)
        if (k === 10_000) expect(stolen).toBe(0)
      }
    }))

  it.effect("the first tasks from the root's listing (its own files in the first, with filesOnly) fold to the single-process pass", () =>
    Effect.gen(function*() {
      const one = yield* singleProcess(dir)
      const listing = listDir(dir, "")
      expect(listing.dirs.length).toBeGreaterThan(1)
      expect(listing.files.length).toBeGreaterThan(0)
      const firsts = firstBatches(listing, 1, 4, 0)
      expect(firsts.length).toBe(listing.dirs.length) // batches of 1
      expect(firsts[0]!.dirs[0]).toBe("")
      expect(firsts.map((b) => b.filesOnly ?? [])).toEqual(firsts.map((_, i) => (i === 0 ? [""] : [])))
      expect(firsts.flatMap((b) => b.dirs).filter((d) => d !== "")).toEqual(listing.dirs)
      const fold = folder()
      const todo: Array<{ readonly dirs: ReadonlyArray<string>; readonly filesOnly?: ReadonlyArray<string> }> = [...firsts]
      while (todo.length > 0) {
        const { dirs, filesOnly } = todo.shift()!
        const answer = yield* HasherLive.handlers.hashDirs({ root: dir, dirs, ...(filesOnly ? { filesOnly } : {}), budget: 0, failAfter: null, throttleMs: 0 })
        // The root's other subdirectories are other tasks': never in the frontier of the one with its files.
        if (filesOnly !== undefined) for (const d of listing.dirs) if (!dirs.includes(d)) expect(answer.frontier).not.toContain(d)
        fold(answer.results, "first batches")
        if (answer.frontier.length > 0) todo.push({ dirs: answer.frontier })
      }
      expect(fold.stats.dirs).toBe(one.walk.dirs)
      expect([fold.tree.digest(), fold.tree.files, fold.tree.bytes]).toEqual([one.tree.digest(), files.size, one.tree.bytes])
      // A root with no subdirectory, or unreadable: one task from the root, as before.
      expect(firstBatches({ files: ["a"], dirs: [], skippedEntries: 0, unreadable: false }, 64, 4, 7)).toEqual([{ dirs: [""], budget: 7 }])
      expect(firstBatches({ files: [], dirs: [], skippedEntries: 0, unreadable: true }, 64, 4, 7)).toEqual([{ dirs: [""], budget: 7 }])
    }))

  it("splitFrontier: near-equal batches of at most `batch`, in order; as many as the idle slots when that is more", () => {
    const dirs = Array.from({ length: 10 }, (_, i) => `d${i}`)
    expect(splitFrontier(dirs, 4, 0)).toEqual([["d0", "d1", "d2"], ["d3", "d4", "d5", "d6"], ["d7", "d8", "d9"]])
    expect(splitFrontier(dirs, 64, 1)).toEqual([dirs])
    expect(splitFrontier(dirs, 64, 4).map((b) => b.length)).toEqual([3, 2, 3, 2])
    expect(splitFrontier(dirs, 64, 4).flat()).toEqual(dirs)
    expect(splitFrontier(dirs.slice(0, 2), 64, 8)).toEqual([["d0"], ["d1"]])
    expect(splitFrontier([], 64, 8)).toEqual([])
  })

  it.effect("the single-process pass over a directory equals the digest of its known files", () =>
    Effect.gen(function*() {
      const r = yield* singleProcess(dir)
      const expected = digestOf([...files].map(([path, c]) => ({ path, bytes: c.length, sha256: sha(c) })))
      expect(r.tree.digest()).toBe(expected)
      expect(r.tree.files).toBe(files.size)
      expect(r.tree.bytes).toBe([...files.values()].reduce((n, c) => n + c.length, 0))
    }))
})

describe("process tree", () => {
  it("finds live descendants at any depth and treats zombies as dead", async () => {
    const child = spawn("sh", ["-c", "sleep 30 & echo $!; wait"], { stdio: ["ignore", "pipe", "ignore"] })
    const grandchild = await new Promise<number>((resolve) => child.stdout!.once("data", (d) => resolve(Number(String(d).trim()))))
    try {
      const pids = liveDescendants().map((p) => p.pid)
      expect(pids).toContain(child.pid)
      expect(pids).toContain(grandchild)
      expect(isAlive(grandchild)).toBe(true)
    } finally {
      process.kill(grandchild, "SIGKILL")
      child.kill("SIGKILL")
    }
    // Killed: a zombie until Node reaps it, then gone; either way it does not count.
    await new Promise((r) => setTimeout(r, 100))
    expect(isAlive(child.pid!)).toBe(false)
    expect(isAlive(grandchild)).toBe(false)
    expect(liveDescendants().map((p) => p.pid)).not.toContain(child.pid)
  })
})

describe("progress and summary rendering", () => {
  it("renders a bounded TTY line and a plain line", () => {
    const s = new ProgressState()
    expect(renderPlain(s)).toBeUndefined()
    expect(renderTty(s, 80)).toMatch(/^starting actors/)
    s.phase = "hashing"
    s.perActor.set("hasher-1", 0).set("hasher-2", 0)
    s.walked = 100
    s.walkDone = true
    s.count("hasher-1", 30, 3_000_000)
    s.count("hasher-2", 20, 2_000_000)
    const line = renderTty(s, 200)
    expect(line).toContain("50%")
    expect(line).toContain("50/100 files")
    expect(line).toContain("5.0 MB")
    expect(line).toContain("hasher-1 30 · hasher-2 20")
    expect(renderTty(s, 40).length).toBeLessThanOrEqual(40)
    expect(renderPlain(s)).toMatch(/^progress: 50 files hashed of 100 found, 5\.0 MB, .* hasher-1 30, hasher-2 20$/)
  })

  it("draws a table", () => {
    const t = table("title", [["files", "10"], ["processes left", "0"]])
    const lines = t.split("\n")
    expect(lines).toHaveLength(6)
    expect(new Set(lines.map((l) => l.length)).size).toBe(1)
    expect(t).toContain("│ processes left │  0 │")
  })
})
