// A startup snapshot blob without Node's built-in code cache (backend/process/snapshotBlob.mjs): found
// from the end of the blob, taken out, and the blob still starts a Node; anything that does not end
// in such a field is left alone.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { builtinCodeCache, stripBuiltinCodeCache } from "../../packages/actor/src/backend/process/snapshotBlob.mjs"

const env = { ...process.env }
delete env["NODE_OPTIONS"]
delete env["NODE_EXTRA_CA_CERTS"]

/** A temporary directory for the test's files, removed on every path. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "troupe-snapshot-blob-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** `node` with `args` (bounded at 30 s): its status and output. */
const node = (args: ReadonlyArray<string>, cwd: string) => {
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: "utf8", timeout: 30_000, killSignal: "SIGKILL" })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

describe("snapshot blob", () => {
  it.scoped("loses Node's built-in code cache and still starts a Node that runs what the snapshot kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const builder = join(dir, "builder.js")
      writeFileSync(
        builder,
        `const v8 = require("node:v8")\nglobalThis.kept = { answer: 42 }\n` +
          `v8.startupSnapshot.setDeserializeMainFunction(() => { require("node:zlib"); process.stdout.write("kept " + globalThis.kept.answer + "\\n") })\n`
      )
      const blob = join(dir, "a.blob")
      expect(node(["--snapshot-blob", blob, "--build-snapshot", builder], dir).status).toBe(0)
      const before = readFileSync(blob)
      const cache = builtinCodeCache(before)
      expect(cache).toBeDefined()
      // Node 20 caches a few hundred built-in modules, some MB in all.
      expect(cache!.modules).toBeGreaterThan(100)
      expect(before.length - cache!.offset).toBeGreaterThan(1_000_000)

      const removed = stripBuiltinCodeCache(blob)
      expect(removed).toBe(before.length - cache!.offset - 8)
      expect(statSync(blob).size).toBe(cache!.offset + 8)
      // What came before the cache is unchanged; the cache is now an empty list.
      const after = readFileSync(blob)
      expect(after.subarray(0, cache!.offset).equals(before.subarray(0, cache!.offset))).toBe(true)
      expect(after.readBigUInt64LE(cache!.offset)).toBe(0n)
      // The stripped blob starts, keeps its heap and compiles a module it never loaded (zlib).
      const run = node(["--snapshot-blob", blob, join(dir, "unused.js")], dir)
      expect(run.out).toBe("kept 42\n")
      expect(run.status).toBe(0)

      // Stripped already: left alone.
      expect(builtinCodeCache(after)).toBeUndefined()
      expect(stripBuiltinCodeCache(blob)).toBe(0)
      expect(readFileSync(blob).equals(after)).toBe(true)
    }), 60_000)

  it("leaves alone bytes that do not end in a code cache field", () => {
    expect(builtinCodeCache(Buffer.alloc(0))).toBeUndefined()
    expect(builtinCodeCache(Buffer.alloc(4096))).toBeUndefined()
    // A field whose last entry runs past the end, and one with a non-printable module id.
    const entry = (id: string, size: number) => {
      const b = Buffer.alloc(8 + id.length + 8 + size)
      b.writeBigUInt64LE(BigInt(id.length), 0)
      b.write(id, 8, "latin1")
      b.writeBigUInt64LE(BigInt(size), 8 + id.length)
      return b
    }
    const field = (entries: ReadonlyArray<Buffer>, count = entries.length) => {
      const head = Buffer.alloc(8)
      head.writeBigUInt64LE(BigInt(count))
      return Buffer.concat([Buffer.alloc(64, 7), head, ...entries])
    }
    const good = field([entry("fs", 16), entry("internal/url", 3)])
    expect(builtinCodeCache(good)).toEqual({ offset: 64, modules: 2 })
    expect(builtinCodeCache(good.subarray(0, good.length - 1))).toBeUndefined()
    expect(builtinCodeCache(field([entry("fs", 16), entry("inter\nal", 3)]))).toBeUndefined()
    expect(builtinCodeCache(field([entry("fs", 16), entry("url", 3)], 3))).toBeUndefined()
  })
})
