// An application bundled into one file (esbuild --bundle, @troupe/actor, effect and the actor
// module inlined) starts actors: the bundle is its own child entry (internal/selfHosted.ts). The
// bundles are built under the workspace's node_modules/.cache (so the native addon resolves as an
// installed one would) and removed afterwards.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { build } from "esbuild"
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const repo = join(fileURLToPath(import.meta.url), "..", "..", "..")
const dir = join(repo, "node_modules", ".cache", `troupe-one-file-${process.pid}`)

const greeter = `
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"
export const Greeter = Actor.define("Greeter", {
  greet: Endpoint.call({ payload: Schema.String, success: Schema.String }),
  selfHosted: Endpoint.call({ payload: Schema.Void, success: Schema.Boolean })
})
export const GreeterLive = Greeter.implement(import.meta.url, {
  greet: (name) => Effect.succeed("hello " + name),
  selfHosted: () => Effect.sync(() => process.argv.includes("--troupe-self-child"))
})
`
const main = (backend: string, run: "troupe" | "node") => `
import { Console, Effect } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
${run === "node" ? `import { NodeRuntime } from "@effect/platform-node"` : ""}
import { GreeterLive } from "./greeter.mjs"
const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const g = yield* nursery.start(GreeterLive, { name: "greeter" })
  yield* Console.log(yield* g.greet("ada"))
  yield* Console.log("self-hosted child: " + (yield* g.selfHosted()))
}).pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "${backend}" })))
${run === "node" ? "NodeRuntime.runMain(program)" : "Troupe.runMain(program)"}
`

const bundle = async (name: string, source: string): Promise<string> => {
  writeFileSync(join(dir, `${name}.src.mjs`), source)
  const outfile = join(dir, `${name}.mjs`)
  await build({
    entryPoints: [join(dir, `${name}.src.mjs`)],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile,
    logLevel: "warning",
    // CommonJS dependencies of @effect/platform-node call require(): give the ES module one.
    banner: { js: "import { createRequire as __troupeRequire } from 'node:module'; const require = __troupeRequire(import.meta.url);" }
  })
  return outfile
}

/** Run `node file`, bounded; its output and exit code. */
const run = (file: string, timeoutMs = 60_000) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`node ${file} did not exit within ${timeoutMs} ms: ${out}${err}`))
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, out, err })
    })
  })

/** Live processes whose command line names this test's directory. */
const leftovers = (): Array<string> =>
  readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ")
      return cmd.includes(dir) ? [`${p}: ${cmd}`] : []
    } catch {
      return []
    }
  })

describe("one-file application bundle", () => {
  beforeAll(() => {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "greeter.mjs"), greeter)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("starts its inlined actor from itself (process backend), nothing left", async () => {
    const app = await bundle("app", main("process", "troupe"))
    const r = await run(app)
    expect(r.err).toBe("")
    expect(r.out).toBe("hello ada\nself-hosted child: true\n")
    expect(r.code).toBe(0)
    expect(leftovers()).toEqual([])
  }, 120_000)

  it("the worker backend says it cannot (ActorFailure naming the process backend)", async () => {
    const app = await bundle("worker-app", main("worker", "troupe"))
    const r = await run(app)
    expect(r.code).toBe(1)
    expect(r.err).toContain("the worker backend cannot start actors from a one-file application bundle")
    expect(leftovers()).toEqual([])
  }, 120_000)

  it("an application that does not start with Troupe.runMain: the child refuses to build a root, the start fails", async () => {
    const app = await bundle("node-app", main("process", "node"))
    const r = await run(app)
    expect(r.code).not.toBe(0)
    expect(`${r.out}${r.err}`).toContain("must start its program with Troupe.runMain")
    expect(r.out).not.toContain("hello ada")
    expect(leftovers()).toEqual([])
  }, 120_000)
})
