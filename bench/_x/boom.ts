import { Effect, Layer } from "effect"
import { Nursery, Troupe } from "../../packages/actor/src/index.js"
import { GreeterLive } from "../../test/actor/fixtures/greeter.js"
const prog = Effect.gen(function*() {
  const n = yield* Nursery.make()
  for (let i = 0; i < 3; i++) {
    const a = yield* n.start(GreeterLive, { name: `g${i}` })
    const e = yield* Effect.flip(a.boom("kaput"))
    console.log(i, JSON.stringify((e as any).stack))
    yield* a.cancelActor
  }
}).pipe(Effect.scoped, Effect.provide(Troupe.layer({ backend: "process" }) as Layer.Layer<Troupe.Troupe>))
await Effect.runPromise(prog as Effect.Effect<void>)
