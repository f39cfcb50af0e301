// greeter.ts — an actor module: typed endpoints, then their implementation.
import { Effect, Schema, Stream } from "effect"
import { Actor, Endpoint } from "../../packages/actor/src/index.js"

export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", { limit: Schema.Number }) {}

export const Greeter = Actor.define("Greeter", {
  greet: Endpoint.call({ payload: Schema.String, success: Schema.String, error: Overloaded }),
  count: Endpoint.stream({ payload: Schema.Number, element: Schema.Number }),
  echo: Endpoint.context({ started: Schema.String, send: Schema.String, receive: Schema.String, success: Schema.Number })
})

export const GreeterLive = Greeter.implement(import.meta.url, {
  greet: (name) => (name === "" ? Effect.fail(new Overloaded({ limit: 0 })) : Effect.succeed(`hello ${name}`)),
  count: (n) => Stream.range(1, n),
  echo: (ctx) =>
    Effect.gen(function*() {
      yield* ctx.started("ready")
      const stream = yield* ctx.openStream()
      return yield* stream.receive.pipe(Stream.tap(stream.send), Stream.runCount)
    })
})
