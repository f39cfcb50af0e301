// ponger.ts — the actor module of ping-pong.ts: a context endpoint (tractor's `@context`).
// Directions are named from the caller's side: `send` is what the caller sends (pings),
// `receive` what it receives (pongs).
import { Effect, Schema, Stream } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

export const Ponger = Actor.define("Ponger", {
  pingPong: Endpoint.context({
    started: Schema.String, // the first value, reported before the stream opens
    send: Schema.Struct({ ping: Schema.Number }), // caller → actor
    receive: Schema.Struct({ pong: Schema.Number, pid: Schema.Number }), // actor → caller
    success: Schema.Number // the result, once the caller has closed its side
  })
})

export const PongerLive = Ponger.implement(import.meta.url, {
  pingPong: (ctx) =>
    Effect.gen(function*() {
      yield* ctx.started(`ponger ready (pid ${process.pid})`)
      const stream = yield* ctx.openStream()
      // Answer every ping; when the caller closes its sending half, `receive` ends and the
      // number of pings answered becomes the context's result.
      return yield* stream.receive.pipe(
        Stream.mapEffect(({ ping }) => stream.send({ pong: ping, pid: process.pid })),
        Stream.runCount
      )
    })
})
