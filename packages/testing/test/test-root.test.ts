// The kit's per-test root and backend matrix, proven on themselves: each test gets its own
// directory and registrar (two tests running at once see different ones, neither the default
// place), both gone after the test; the matrix covers every backend; skips carry their reason.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, lstatSync } from "node:fs"
import { tmpdir } from "node:os"
import { Nursery, Registrar } from "../../actor/src/index.js"
import { formatAddress } from "../../actor/src/Protocol.js"
import { Troupe } from "../../actor/src/Troupe.js"
import { TestRoot, TroupeTest } from "../src/index.js"
import { GreeterLive } from "../../../test/actor/fixtures/greeter.js"

const processUds = TroupeTest.matrix.find((c) => c.backend === "process" && c.transport === "uds")!
const processTcp = TroupeTest.matrix.find((c) => c.backend === "process" && c.transport === "tcp")!

interface Seen {
  readonly registrar: string
  readonly dir: string
  readonly rootAddress: string
  readonly childDir: string | null
}
const seen = new Map<string, Seen>()

/** Resolves once `n` tests have arrived: the two tests below are provably running at once. */
const barrier = (n: number) => {
  let arrived = 0
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return Effect.promise(() => {
    arrived++
    if (arrived >= n) open()
    return opened
  }).pipe(Effect.timeoutFail({ duration: 20_000, onTimeout: () => new Error("the other test never ran at the same time") }))
}

const both = barrier(2)
const observe = (key: string) =>
  Effect.gen(function*() {
    const t = yield* TestRoot.TestRoot
    const rt = yield* Troupe
    const nursery = yield* Nursery.make()
    const g = yield* nursery.start(GreeterLive, { name: `greeter-${key}` })
    t.track(g.actor.pid)
    expect(yield* g.greet(key)).toBe(`hello ${key}`)
    // The child registered with this test's registrar, and nowhere else.
    const names = (yield* Registrar.listActors).map((i) => i.name).sort()
    expect(names).toEqual([`greeter-${key}`, "root"])
    const info = (yield* Registrar.listActors).find((i) => i.name === `greeter-${key}`)!
    expect(lstatSync(t.dir).mode & 0o777).toBe(0o700)
    yield* both // the other test is up too, with its own root
    seen.set(key, {
      registrar: formatAddress(t.registrar),
      dir: t.dir,
      rootAddress: formatAddress(rt.address),
      childDir: info.address._tag === "UnixAddress" ? info.address.path : null
    })
  })

describe.concurrent("TestRoot.layer: a root and a registrar per test", () => {
  // Concurrent tests share the process: the per-process leak checks cannot tell them apart.
  it.live("test A (uds)", () => Effect.scoped(observe("a")).pipe(Effect.provide(TestRoot.layer(processUds, { leaks: [] }))), 60_000)
  it.live("test B (uds)", () => Effect.scoped(observe("b")).pipe(Effect.provide(TestRoot.layer(processUds, { leaks: [] }))), 60_000)
})

describe("TestRoot.layer: after the concurrent tests", () => {
  it("each had its own directory and registrar socket inside it; both are gone", () => {
    const a = seen.get("a")!
    const b = seen.get("b")!
    expect(a && b).toBeTruthy()
    expect(a.dir).not.toBe(b.dir)
    expect(a.registrar).not.toBe(b.registrar)
    for (const s of [a, b]) {
      expect(s.dir.startsWith(`${tmpdir()}/troupe-test-${process.pid}-`)).toBe(true)
      // The registrar is the root's own listener, at a private path in the test's directory.
      expect(s.registrar).toBe(s.rootAddress)
      expect(s.registrar).toBe(`unix:${s.dir}/troupe/registrar.sock`)
      expect(s.childDir!.startsWith(`${s.dir}/troupe/`)).toBe(true)
      expect(existsSync(s.dir)).toBe(false)
    }
  })
})

describe("TestRoot.layer over TCP", () => {
  it.live("the registrar is on loopback at a kernel-chosen port, different for each root", () =>
    Effect.gen(function*() {
      const ports = yield* Effect.forEach([1, 2], () =>
        Effect.scoped(Effect.gen(function*() {
          const t = yield* TestRoot.TestRoot
          const address = t.registrar
          expect(address._tag).toBe("TcpAddress")
          if (address._tag !== "TcpAddress") return 0
          expect(address.hostname).toBe("127.0.0.1")
          expect(address.port).toBeGreaterThan(0)
          return address.port
        })).pipe(Effect.provide(TestRoot.layer(processTcp))), { concurrency: 2 })
      expect(ports[0]).not.toBe(ports[1])
    }), 60_000)
})

describe("the backend matrix", () => {
  it("lists every backend of TroupeTest.backends over each transport, in order", () => {
    const names = Object.keys(TroupeTest.backends)
    expect(TroupeTest.matrix.map(TroupeTest.label)).toEqual(names.flatMap((b) => TroupeTest.transports.map((t) => `${b}/${t}`)))
    expect(names).toContain("process")
    expect(names).toContain("worker")
  })

  it("skipOnBackend skips on the named backends only, with its reason; capabilities still apply", () => {
    const worker = TroupeTest.matrix.find((c) => c.backend === "worker")!
    const skip = TroupeTest.skipOnBackend("worker", "a worker shares the test process's signal handlers")
    expect(TroupeTest.skipReason(worker, skip)).toBe("a worker shares the test process's signal handlers")
    expect(TroupeTest.skipReason(processUds, skip)).toBeUndefined()
    expect(TroupeTest.skipReason(processUds, TroupeTest.skipOnBackend(["process", "worker"], "both"))).toBe("both")
    expect(TroupeTest.skipReason(worker, "own-process", skip)).toContain("process.pid inside it is the parent's")
    expect(TroupeTest.skipReason(processUds, "own-process")).toBeUndefined()
  })

  const registered: Array<string> = []
  TroupeTest.describeMatrix("kit smoke", (config) => {
    TestRoot.it(config)("a greeter answers under the test's own root; nothing is left after it (every leak kind checked)", () =>
      Effect.gen(function*() {
        registered.push(TroupeTest.label(config))
        const t = yield* TestRoot.TestRoot
        expect(t.config).toBe(config)
        const nursery = yield* Nursery.make()
        const g = yield* nursery.start(GreeterLive, { name: "greeter" })
        t.track(g.actor.pid)
        expect(yield* g.greet("kit")).toBe("hello kit")
      }), { timeout: 30_000 })
    TestRoot.it(config, TroupeTest.skipOnBackend("worker", "proves the skip: never runs on worker"))("skipOnBackend: not run on worker", () =>
      Effect.sync(() => {
        expect(config.backend).not.toBe("worker")
      }))
  }, { configs: TroupeTest.matrix.filter((c) => c.transport === "uds") })

  it("describeMatrix ran the smoke test once per backend", () => {
    expect(registered.sort()).toEqual(TroupeTest.matrix.filter((c) => c.transport === "uds").map(TroupeTest.label).sort())
  })

})
