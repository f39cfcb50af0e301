import { Effect, Scope, Exit } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { BenchLive, small } from "../actors/bench-actor.js"
process.env.NODE_OPTIONS = "--cpu-prof --cpu-prof-dir=/tmp/cprof"
const N = Number(process.argv[2] ?? 1)
const program = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const nursery = yield* Nursery.make().pipe(Scope.extend(scope))
  const as = yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => nursery.start(BenchLive, { name: `b${i}` }), { concurrency: "unbounded" })
  for (const a of as) yield* a.echo(small(1))
  yield* Effect.sleep(500)
  const t0 = performance.now()
  yield* Scope.close(scope, Exit.void)
  console.log(`teardown of ${N}: ${(performance.now() - t0).toFixed(0)} ms`)
}).pipe(Effect.scoped, Effect.provide(Troupe.layer({})))
Effect.runPromise(program).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
