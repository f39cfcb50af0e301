// troupe's program runner (bin `troupe-node` of @troupe/actor): a program run from a cached
// bundle with V8's code cache. Each program here is a file of its own in a temporary directory; its
// directory and its cache entry are removed afterwards. (`pnpm demo` runs through the runner too:
// test/demo/demo.test.ts, actors included.)
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"

const manifest = createRequire(import.meta.url).resolve("@troupe/actor/package.json")
const runner = join(dirname(manifest), JSON.parse(readFileSync(manifest, "utf8")).bin["troupe-node"])
const cacheDir = join(dirname(manifest), "node_modules", ".cache", "troupe-child")
const dir = mkdtempSync(join(tmpdir(), "troupe-program-"))
/** Cache keys the programs here were bundled under (removed afterwards). */
const keys = new Set<string>()

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  for (const f of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
    if (keys.has(f.split(".")[0]!)) rmSync(join(cacheDir, f), { force: true })
  }
})

/** Run `node <runner> <args>` (bounded: SIGKILL after 60 s, a build included). */
const run = (args: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string> = []) => {
  // No NODE_OPTIONS: the code cache's name would carry their hash (load-bundle.cjs).
  const { NODE_OPTIONS: _, ...env } = process.env
  const r = spawnSync(process.execPath, [...nodeFlags, runner, ...args], { encoding: "utf8", env, timeout: 60_000, killSignal: "SIGKILL" })
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, context: `stdout:\n${r.stdout}\nstderr:\n${r.stderr}` }
}

/** A TypeScript program that prints what it sees as one JSON line and exits with its first argument. */
const program = (name: string, version: number) => {
  const path = join(dir, name)
  writeFileSync(
    path,
    [
      "const boot = (globalThis as any)[Symbol.for(\"troupe.childBundle\")] as { bundle: string; codeCache: string } | undefined",
      "const code: number = Number(process.argv[2] ?? 0)",
      `console.log(JSON.stringify({ version: ${version}, argv1: process.argv[1], args: process.argv.slice(2), url: import.meta.url, bundle: boot?.bundle, codeCache: boot?.codeCache }))`,
      "process.exitCode = code"
    ].join("\n")
  )
  return path
}

const seen = (stdout: string) => {
  const out = JSON.parse(stdout.trim().split("\n").pop()!) as {
    version: number
    argv1: string
    args: Array<string>
    url: string
    bundle?: string
    codeCache?: string
  }
  if (out.bundle !== undefined) keys.add(basename(out.bundle).split(".")[0]!)
  return out
}

describe("program runner (troupe-node)", () => {
  it("runs a TypeScript program from its bundle: its own path as argv[1] and import.meta.url, its arguments, its exit code; the code cache written by a clean exit is used next time; an edit rebuilds", () => {
    const path = program("main.ts", 1)
    const first = run([path, "0", "two words"])
    expect(first.code, first.context).toBe(0)
    const a = seen(first.stdout)
    expect(a).toMatchObject({ version: 1, argv1: path, args: ["0", "two words"], url: pathToFileURL(path).href })
    expect(a.bundle, first.context).toMatch(/\.cjs$/)
    expect(a.codeCache).toBe("written after boot")
    expect(existsSync(join(cacheDir, `${basename(a.bundle!)}.v8cache`)), "the cache written at exit 0").toBe(true)

    const second = run([path, "3"])
    expect(second.code, second.context).toBe(3)
    const b = seen(second.stdout)
    expect(b.bundle).toBe(a.bundle)
    expect(b.codeCache).toBe("used")

    // The same file, new content (and mtime): bundled again before it runs.
    program("main.ts", 2)
    const third = run([path])
    expect(third.code, third.context).toBe(0)
    expect(seen(third.stdout)).toMatchObject({ version: 2, bundle: a.bundle })
  }, 90_000)

  it("an uncaught throw: its frames name the bundle and its short line; under --enable-source-maps, the source file, line and column", () => {
    const path = join(dir, "throws.ts")
    writeFileSync(path, ["const f = (x: number): number => {", "  if (x > 1) throw new Error(\"boom\")", "  return x", "}", "f(2)"].join("\n"))
    const plain = run([path])
    expect(plain.code, plain.context).toBe(1)
    const frame = plain.stderr.match(/at f \((\/[^:]+\.cjs):\d+:\d+\)/)
    expect(frame, plain.context).not.toBeNull()
    keys.add(basename(frame![1]!).split(".")[0]!)
    // Node prints the line thrown from: one statement, not the whole bundle.
    expect(plain.stderr.split("\n").every((l) => l.length < 300), plain.context).toBe(true)
    const mapped = run([path], ["--enable-source-maps"])
    expect(mapped.code, mapped.context).toBe(1)
    expect(mapped.stderr, mapped.context).toContain(`at f (${path}:2:`)
  }, 90_000)

  it("usage errors exit 2; a program that does not build exits 1 with esbuild's message, and leaves no build directory", () => {
    const none = run([])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/^troupe-node: usage: /)
    const missing = run([join(dir, "nope.ts")])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(`troupe-node: no such file: ${join(dir, "nope.ts")}`)

    const broken = join(dir, "broken.ts")
    writeFileSync(broken, "const x: number = \n")
    const before = new Set(existsSync(cacheDir) ? readdirSync(cacheDir) : [])
    const r = run([broken])
    expect(r.code, r.context).toBe(1)
    expect(r.stderr).toMatch(/^troupe-node: bundling .*broken\.ts failed \(exit code 1\): /)
    expect(r.stderr).toContain("Unexpected end of file")
    // Its build directory (bundler.mjs: `.tmp-<pid>`) is gone. (Only that: other test files,
    // run at the same time, add bundles, code caches and snapshots to the same cache.)
    const added = (existsSync(cacheDir) ? readdirSync(cacheDir) : []).filter((f) => !before.has(f) && f.startsWith(".tmp-"))
    expect(added).toEqual([])
  }, 90_000)
})
