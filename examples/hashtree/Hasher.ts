/**
 * The hashing actor. One context endpoint, `hash`: the actor reports its pid (`started`; a
 * worker actor's is its thread id), then
 * the caller streams batches of file paths (relative to `root`) to it and it streams back batches
 * of `(path, bytes, sha256)`, both directions under the runtime's credit backpressure (the caller
 * can have at most `window` batches in flight to this actor; the actor at most the caller's
 * window of result batches). When the caller closes its sending half, the actor finishes what
 * it holds and returns its totals.
 *
 * `failAfter: K` makes this actor throw (an untyped `Error`, so it crosses the wire as a
 * `RemoteActorError` with the remote stack) when it is about to hash file K + 1.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, Endpoint, Troupe } from "@troupe/actor"
import { hashFile } from "./HashFile.js"

export const FileHashSchema = Schema.Struct({
  path: Schema.String,
  bytes: Schema.Number,
  sha256: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String)
})

export const Hasher = Actor.define("Hasher", {
  hash: Endpoint.context({
    payload: Schema.Struct({
      /** The tree's root; paths sent are relative to it. */
      root: Schema.String,
      /** Throw after this many files (`--fail-after`); `null`: never. */
      failAfter: Schema.NullOr(Schema.Number),
      /** Receive window for path batches (caller → actor). */
      window: Schema.Number,
      /** Pause this long after each batch (`--throttle-ms`: makes a small tree last long enough to watch or interrupt). */
      throttleMs: Schema.Number
    }),
    started: Schema.Struct({ pid: Schema.Number }),
    send: Schema.Array(Schema.String),
    receive: Schema.Array(FileHashSchema),
    /** Totals, and the time spent hashing vs the time the stream was open (ms). */
    success: Schema.Struct({ files: Schema.Number, bytes: Schema.Number, busyMs: Schema.Number, openMs: Schema.Number })
  })
})

/** Thrown by `--fail-after`: an ordinary bug, as far as the runtime knows. */
export class InjectedFailure extends Error {
  override readonly name = "InjectedFailure"
}

function failInjected(after: number, path: string): never {
  throw new InjectedFailure(`injected failure (--fail-after ${after}): refusing to hash ${path}`)
}

export const HasherLive = Hasher.implement(import.meta.url, {
  hash: (ctx) =>
    Effect.gen(function*() {
      const { failAfter, root, throttleMs, window } = ctx.payload
      let files = 0
      let bytes = 0
      yield* ctx.started({ pid: (yield* Troupe.self).pid }) // a worker actor's is its thread id
      const stream = yield* ctx.openStream({ window })
      const opened = performance.now()
      let busyMs = 0
      const hashOne = (path: string) =>
        Effect.suspend(() => {
          if (failAfter !== null && files >= failAfter) failInjected(failAfter, path)
          files++
          return hashFile(path, root)
        }).pipe(Effect.tap((r) => Effect.sync(() => (bytes += r.bytes))))
      yield* stream.receive.pipe(
        Stream.mapEffect((batch) =>
          Effect.suspend(() => {
            const t0 = performance.now()
            return Effect.forEach(batch, hashOne).pipe(Effect.ensuring(Effect.sync(() => (busyMs += performance.now() - t0))))
          }).pipe(Effect.tap(() => (throttleMs > 0 ? Effect.sleep(throttleMs) : Effect.void)))
        ),
        Stream.runForEach((results) => stream.send(results))
      )
      return { files, bytes, busyMs, openMs: performance.now() - opened }
    })
})
