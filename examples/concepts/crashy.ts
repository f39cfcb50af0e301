// crashy.ts — the actor module of supervision.ts: an actor that tells who it is and can be told
// to crash (its process exits 1, as an uncaught error would make it).
import { Effect, Schema } from "effect"
import { Actor, Endpoint } from "@troupe/actor"

export const Crashy = Actor.define("Crashy", {
  /** This incarnation's pid. */
  pid: Endpoint.call({ success: Schema.Number }),
  /** Exit 1 shortly after replying, saying why on stderr. */
  crash: Endpoint.call({ payload: Schema.String })
})

export const CrashyLive = Crashy.implement(import.meta.url, {
  pid: () => Effect.succeed(process.pid),
  crash: (why) =>
    Effect.sync(() => {
      setTimeout(() => {
        process.stderr.write(`crashing: ${why}\n`)
        process.exit(1)
      }, 20)
    })
})
