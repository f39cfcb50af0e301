// The root of a chaos run whose fault hits the root itself (root-run.ts starts it with
// `node --import tsx test/chaos/root-main.ts <seed> <scenario as JSON>` and signals it): builds the scenario's tree
// under `Troupe.runMain`, runs its traffic, and says on stdout what the harness needs —
// `chaos-root built` once the tree stands (and holds the scenario's `heldFaults`), `chaos-root acked <token> <n>` for each emit an actor
// answered — then holds the tree until it is signalled.
import { Effect, Option, Stream } from "effect"
import * as LadderBounds from "../../packages/process/src/Bounds.js"
import { Nursery, type Portal, Registrar, Troupe } from "../../packages/actor/src/index.js"
import { Chaos, ChaosLive } from "./fixtures/chaos-actor.js"
import { actorBounds, ladderBounds } from "./run.js"
import { heldFaults, members, type Scenario } from "./scenario.js"

console.log(`chaos-root pid ${process.pid}`)
const seed = Number(process.argv[2])
const scenario: Scenario = JSON.parse(process.argv[3]!)
const all = members(scenario.tree)

const program = Nursery.open((n) =>
  Effect.gen(function*() {
    const portals = new Map<string, Portal.Portal<typeof Chaos>>()
    yield* Effect.forEach(scenario.tree, (spec) =>
      Effect.gen(function*() {
        const portal = yield* n.start(ChaosLive, { name: spec.name })
        portals.set(spec.name, portal)
        // The build context stays open while the tree stands.
        yield* portal.build(spec)
      }), { concurrency: "unbounded", discard: true })
    const portalOf = (name: string) =>
      Effect.suspend(() => {
        const known = portals.get(name)
        if (known) return Effect.succeed(known)
        return Effect.flatMap(Registrar.findActor(name, Chaos), Option.match({
          onNone: () => Effect.fail(`${name} is not registered`),
          onSome: (p) => Effect.succeed(p)
        }))
      })
    // What actors hold when the root is hit: a SIGTERM-ignoring process, a setsid escapee.
    yield* Effect.forEach(heldFaults(scenario), (f) =>
      Effect.flatMap(portalOf(all[f.victim]!.name), (p) =>
        f.kind === "stubborn"
          ? Effect.asVoid(p.stubborn()) // held open (its process running) while the program's scope is
          : p.escapee()), { discard: true })
    console.log("chaos-root built")
    yield* Effect.forEach(scenario.traffic, (t, i) => {
      const target = all[t.target]!.name
      const token = `T${seed % 100_000}x${i}`
      return Effect.sleep(t.atMs).pipe(
        Effect.zipRight(portalOf(target)),
        Effect.flatMap((p) => {
          switch (t.kind) {
            case "emit":
              return Effect.map(p.emit({ token, n: t.n }), (k) => console.log(`chaos-root acked ${token} ${k}`))
            case "stream":
              return Stream.runDrain(p.count({ n: t.n, delayMs: 1 }))
            default:
              return Effect.asVoid(p.ping())
          }
        }),
        Effect.catchAll((e) => Effect.sync(() => console.log(`chaos-root traffic ${t.kind} to ${target} failed: ${String(e)}`)))
      )
    }, { concurrency: "unbounded", discard: true })
    console.log("chaos-root traffic done")
    return yield* Effect.never
  })
)

Troupe.runMain(
  program.pipe(
    Effect.scoped,
    Effect.provide(Troupe.layer({ backend: scenario.backend, transport: scenario.transport, bounds: actorBounds, logLevel: "Info" })),
    Effect.provide(LadderBounds.layer(ladderBounds))
  )
)
