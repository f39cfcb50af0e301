// greeter.ts — the actor module of hello.ts: typed endpoints declared once with Schema, then
// their implementation. A child process loads `GreeterLive` from this module's URL.
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

/** A declared failure: it crosses the wire and decodes back into this class on the caller's side. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", { limit: Schema.Number }) {}

export const Greeter = Actor.define("Greeter", {
  // payload → success | error (tractor's `Portal.run`)
  greet: Endpoint.call({ payload: Schema.String, success: Schema.String, error: Overloaded }),
  whoami: Endpoint.call({ success: Schema.Struct({ pid: Schema.Number }) })
})

export const GreeterLive = Greeter.implement(import.meta.url, {
  greet: (name) => (name === "" ? Effect.fail(new Overloaded({ limit: 0 })) : Effect.succeed(`hello ${name}`)),
  whoami: () => Effect.succeed({ pid: process.pid })
})
