// A child's boot without round trips to its parent (docs/protocol.md, "Boot"): its parent's name
// on its command line, its spawn spec at launch where a private way to it exists (a process
// child's environment when the spec carries no secret; a worker's `workerData`), and its registry
// entry in its `Ready` when its parent hosts the registrar. Each test leaves no process, worker
// or descriptor behind.
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, HashMap, Layer, Logger, LogLevel, Option, type Scope } from "effect"
import { readFileSync } from "node:fs"
import { MessageChannel } from "node:worker_threads"
import { Nursery, Protocol, Registrar, type SpawnBackend, Troupe } from "../../packages/actor/src/index.js"
import type { Connection } from "../../packages/actor/src/Transport.js"
import * as PortTransport from "../../packages/actor/src/transport/PortTransport.js"
import { ProcessGuard, TroupeTest } from "../../packages/testing/src/index.js"
import { atExec, eventually } from "./_harness.js"
import { GreeterLive } from "./fixtures/greeter.js"
import { ProbeLive } from "./fixtures/probe.js"

/** A root on `options` with its children's debug logs captured, under the process and worker leak checks. */
const rootLogging = <A, E>(
  options: Troupe.Options,
  body: (guard: ProcessGuard.Guard, readyOf: (id: string) => string | undefined) => Effect.Effect<A, E, Troupe.Troupe | Scope.Scope>
): Effect.Effect<A, unknown> => {
  const ready: Array<{ readonly id: unknown; readonly message: string }> = []
  const capture = Logger.make(({ annotations, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    if (text.startsWith("ready ")) ready.push({ id: HashMap.get(annotations, "id").pipe(Option.getOrUndefined), message: text })
  })
  const readyOf = (id: string) => ready.find((r) => r.id === id)?.message
  return ProcessGuard.guarded((guard) =>
    Effect.scoped(body(guard, readyOf)).pipe(
      Effect.provide(Troupe.layer(options) as Layer.Layer<Troupe.Troupe, unknown>),
      Effect.ensuring(TroupeTest.assertNoWorkersLeft(5000))
    )
  ).pipe(
    // Only the capture (the children's debug records are many).
    Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
    Logger.withMinimumLogLevel(LogLevel.Debug),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TROUPE_LOG_LEVEL", "debug"]])).pipe(ConfigProvider.orElse(ConfigProvider.fromEnv)))
  )
}

/**
 * A backend whose child never runs: it hands the parent one end of a port, and `child` answers on
 * the other as the child would (`self`: the child's aid). `exitedAs`: the child has exited
 * already, so (`"exited 1"`); absent: it never exits.
 */
const portChild = (
  name: string,
  child: (side: Connection, self: { name: string; id: string; pid: number }) => Effect.Effect<void, never, Scope.Scope>,
  exitedAs?: string
): SpawnBackend.SpawnBackend => ({
  name,
  honours: [],
  launch: (request) =>
    Effect.gen(function*() {
      const { port1, port2 } = new MessageChannel()
      const limits = { maxFrameBytes: 1 << 20, maxQueuedBytes: 1 << 24, maxUnattachedMessages: 64, flushMs: 0 }
      const parentSide = yield* PortTransport.fromPort(port1, `${name} (parent side)`, limits)
      const childSide = yield* PortTransport.fromPort(port2, `${name} (child side)`, limits)
      yield* child(childSide, { name: request.name, id: request.id, pid: process.pid })
      return {
        pid: 0,
        kind: "thread" as const,
        exited: exitedAs === undefined ? Effect.never : Effect.succeed(exitedAs),
        hasExited: () => exitedAs !== undefined,
        terminate: () => Effect.sync(() => childSide.close("terminated")),
        stderrTail: () => "",
        specDelivered: true,
        connection: parentSide
      }
    })
})

describe("a child's boot", () => {
  it.live("process, no secret: the spawn spec at launch in its environment (never its command line), gone from the actor's; its registry entry recorded from its Ready", () =>
    rootLogging({ backend: "process" }, (guard, readyOf) =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        const a = yield* (yield* Nursery.make()).start(ProbeLive, { name: "launched" })
        guard.track(a.actor.pid)
        const spec = JSON.parse(atExec(a.actor.pid, "TROUPE_SPAWN_SPEC") ?? "null") as Protocol.SpawnSpec | null
        expect(spec).toMatchObject({ id: a.actor.id, definition: "Probe", secret: null })
        expect(readFileSync(`/proc/${a.actor.pid}/cmdline`, "utf8")).not.toContain("definition")
        expect(yield* a.env("TROUPE_SPAWN_SPEC")).toBeNull()
        // Registered by the root (its registrar) before `start` returned.
        const entry = (yield* Registrar.listActors).find((i) => i.id === a.actor.id)
        expect(entry).toMatchObject({ name: "launched", pid: a.actor.pid, parent: rt.self.id, backend: "process" })
        // A grandchild (its parent hosts no registrar) registers itself, and answers.
        expect((yield* a.childBounds(null)).spawnedBy).toBe("process")
        yield* eventually("the actor logged its Ready", 10_000, () => readyOf(a.actor.id) !== undefined)
        expect(readyOf(a.actor.id)).toContain("spawn spec at launch")
      })), 120_000)

  it.live("process, with a secret: the spec comes from the parent, never in the environment (one given in `env` is dropped); still registered from its Ready", () =>
    rootLogging({ backend: "process", secret: "boot-test-secret" }, (guard, readyOf) =>
      Effect.gen(function*() {
        const a = yield* (yield* Nursery.make()).start(GreeterLive, { name: "guarded", env: { TROUPE_SPAWN_SPEC: "{not a spec" } })
        guard.track(a.actor.pid)
        expect(atExec(a.actor.pid, "TROUPE_SPAWN_SPEC")).toBeNull()
        expect(readFileSync(`/proc/${a.actor.pid}/environ`, "utf8")).not.toContain("boot-test-secret")
        expect(yield* a.greet("x")).toBe("hello x")
        expect((yield* Registrar.listActors).map((i) => i.id)).toContain(a.actor.id)
        yield* eventually("the actor logged its Ready", 10_000, () => readyOf(a.actor.id) !== undefined)
        expect(readyOf(a.actor.id)).toContain("spawn spec from the parent")
      })), 120_000)

  it.live("worker: the spawn spec at launch in its workerData; registered from its Ready", () =>
    rootLogging({ backend: "worker" }, (_guard, readyOf) =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        const w = yield* (yield* Nursery.make()).start(GreeterLive, { name: "threaded" })
        expect(yield* w.greet("w")).toBe("hello w")
        const entry = (yield* Registrar.listActors).find((i) => i.id === w.actor.id)
        expect(entry).toMatchObject({ name: "threaded", parent: rt.self.id, backend: "worker" })
        yield* eventually("the actor logged its Ready", 10_000, () => readyOf(w.actor.id) !== undefined)
        expect(readyOf(w.actor.id)).toContain("spawn spec at launch")
      })), 120_000)

  it.live("a child that fails its boot and exits before its Hello is read: the start fails with its reason, not \"died before the handshake\"", () =>
    rootLogging({ backend: "process" }, () =>
      Effect.gen(function*() {
        // The race a loaded machine can lose: the child connected, said Hello and BootFailed, and
        // exited, and the parent sees the exit first. Here the exit is known at launch and the
        // child's words arrive 30 ms later, on a port the backend hands over.
        const early = portChild("exits-first", (side, self) =>
          Effect.gen(function*() {
            const timer = setTimeout(() => {
              side.write(Protocol.hello(self, "child"))
              side.write(Protocol.bootFailed("layer failed to build: DatabaseUnreachable"))
            }, 30)
            yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(timer)))
          }), "exited 1")
        const exit = yield* Effect.exit((yield* Nursery.make()).start(GreeterLive, { name: "exits-first", backend: early }))
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toMatch(/boot failed: layer failed to build: DatabaseUnreachable/)
      })), 60_000)

  it.live("a Ready carrying another actor's registry entry fails the boot with the reason; nothing is registered", () =>
    rootLogging({ backend: "process" }, () =>
      Effect.gen(function*() {
        const rt = yield* Troupe.Troupe
        // A child that never runs: the backend hands the parent one end of a port, and this test
        // answers on the other as the child would, its Ready naming someone else.
        const impostor = portChild("impostor", (side, self) =>
          Effect.sync(() => {
            side.write(Protocol.hello(self, "child"))
            side.write(Protocol.ready({ _tag: "UnixAddress", path: "/nonexistent" }, {
              ...self,
              id: "someone-else@1",
              address: { _tag: "UnixAddress", path: "/nonexistent" },
              parent: rt.self.id,
              backend: "impostor",
              startedAt: Date.now()
            }))
          }))
        const exit = yield* Effect.exit((yield* Nursery.make()).start(GreeterLive, { name: "impostor", backend: impostor }))
        expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toMatch(/not registered: its registry entry is someone-else@1's/)
        const ids = (yield* Registrar.listActors).map((i) => i.id)
        expect(ids.some((id) => id.startsWith("impostor@") || id === "someone-else@1")).toBe(false)
      })), 60_000)
})
