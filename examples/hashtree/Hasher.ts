/**
 * The hashing actor. One context endpoint, `hash`: the actor reports its pid (`started`; a
 * worker actor's is its thread id), then the caller streams directories (relative to `root`) to
 * it and it streams back, per directory, the `(path, bytes, sha256)` of every file in it and the
 * subdirectories it found — which the caller hands out again, to whichever actor has room. The
 * walk itself is spread over the actors, so the caller only folds results. Both directions run
 * under the runtime's credit backpressure (the caller has at most `window` directories in flight
 * to this actor). When the caller closes its sending half, the actor finishes what it holds and
 * returns its totals.
 *
 * `failAfter: K` makes this actor throw (an untyped `Error`, so it crosses the wire as a
 * `RemoteActorError` with the remote stack) when it is about to hash file K + 1.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Actor, Endpoint, Troupe } from "@troupe/actor"
import { hashFile } from "./HashFile.js"
import { listDir } from "./Walker.js"

export const FileHashSchema = Schema.Struct({
  path: Schema.String,
  bytes: Schema.Number,
  sha256: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String)
})

/** One directory done: its files' hashes and what else it held. */
export const DirResultSchema = Schema.Struct({
  files: Schema.Array(FileHashSchema),
  /** Its subdirectories (relative to the root): more work for the caller to hand out. */
  dirs: Schema.Array(Schema.String),
  /** Entries that are neither files nor directories (symlinks, sockets, fifos, devices). */
  skippedEntries: Schema.Number,
  /** The directory could not be read. */
  unreadable: Schema.Boolean
})
export type DirResult = typeof DirResultSchema.Type

export const Hasher = Actor.define("Hasher", {
  hash: Endpoint.context({
    payload: Schema.Struct({
      /** The tree's root; paths sent are relative to it. */
      root: Schema.String,
      /** Throw after this many files (`--fail-after`); `null`: never. */
      failAfter: Schema.NullOr(Schema.Number),
      /** Receive window for directories (caller → actor). */
      window: Schema.Number,
      /** Pause this long after each file (`--throttle-ms`: makes a small tree last long enough to watch or interrupt). */
      throttleMs: Schema.Number
    }),
    started: Schema.Struct({ pid: Schema.Number }),
    /** A directory to list and hash, relative to `root` (`""`: the root). */
    send: Schema.String,
    receive: DirResultSchema,
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
        }).pipe(Effect.tap((r) => {
          bytes += r.bytes
          return throttleMs > 0 ? Effect.sleep(throttleMs) : Effect.void
        }))
      const hashDir = (dir: string) =>
        Effect.suspend(() => {
          const listing = listDir(root, dir)
          return Effect.map(
            Effect.forEach(listing.files, hashOne),
            (files): DirResult => ({ files, dirs: listing.dirs, skippedEntries: listing.skippedEntries, unreadable: listing.unreadable })
          )
        })
      // Each directory is answered as soon as it is done (the runtime coalesces what is sent in
      // one tick into one write, so small directories still share a system call).
      yield* stream.receive.pipe(
        Stream.runForEach((dir) =>
          Effect.suspend(() => {
            const t0 = performance.now()
            return hashDir(dir).pipe(
              Effect.ensuring(Effect.sync(() => (busyMs += performance.now() - t0))),
              Effect.flatMap((result) => stream.send(result))
            )
          })
        )
      )
      return { files, bytes, busyMs, openMs: performance.now() - opened }
    })
})
