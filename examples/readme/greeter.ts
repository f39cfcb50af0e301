import { Effect, Schema, Stream } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

// greeter.ts — typed endpoints, then their implementation (the child loads it by module URL)
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", { limit: Schema.Number }) {}
export const Greeter = Actor.define("Greeter", {
  greet: Endpoint.call({ payload: Schema.String, success: Schema.String, error: Overloaded }),
  count: Endpoint.stream({ payload: Schema.Number, element: Schema.Number })
})
export const GreeterLive = Greeter.implement(import.meta.url, {
  greet: (name) => name === "" ? Effect.fail(new Overloaded({ limit: 0 })) : Effect.succeed(`hello ${name}`),
  count: (n) => Stream.range(1, n)
})
