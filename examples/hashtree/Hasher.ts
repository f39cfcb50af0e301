/**
 * The hashing actor. One call endpoint, `hashDirs`: list a few directories (relative to `root`)
 * and hash their files; the answer holds, per directory and file, `(path, bytes, sha256)`, and the subdirectories it
 * found — which the caller hands out again as new tasks. The walk itself is spread over the
 * actors (examples/hashtree/Parallel.ts runs them as an `ActorPool`), so the caller only folds
 * results.
 *
 * `failAfter: K` makes this actor throw (an untyped `Error`, so it crosses the wire as a
 * `RemoteActorError` with the remote stack) when it is about to hash its file K + 1 (counted
 * over every directory this actor has hashed).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Actor, Endpoint } from "@troupe/actor"
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
  hashDirs: Endpoint.call({
    payload: Schema.Struct({
      /** The tree's root; `dirs` are relative to it. */
      root: Schema.String,
      /** The directories to list and hash (`""`: the root), one result each, in this order. */
      dirs: Schema.Array(Schema.String),
      /** Throw after this many files (`--fail-after`); `null`: never. */
      failAfter: Schema.NullOr(Schema.Number),
      /** Pause this long after each file (`--throttle-ms`: makes a small tree last long enough to watch or interrupt). */
      throttleMs: Schema.Number
    }),
    /** One result per directory, and the time this actor spent on them (ms). */
    success: Schema.Struct({ results: Schema.Array(DirResultSchema), busyMs: Schema.Number })
  })
})

/** Thrown by `--fail-after`: an ordinary bug, as far as the runtime knows. */
export class InjectedFailure extends Error {
  override readonly name = "InjectedFailure"
}

function failInjected(after: number, path: string): never {
  throw new InjectedFailure(`injected failure (--fail-after ${after}): refusing to hash ${path}`)
}

/** Files this actor has hashed (each actor is its own process or thread: its own count). */
let hashed = 0

export const HasherLive = Hasher.implement(import.meta.url, {
  hashDirs: ({ dirs, failAfter, root, throttleMs }) =>
    Effect.suspend(() => {
      const t0 = performance.now()
      const hashOne = (path: string) =>
        Effect.suspend(() => {
          if (failAfter !== null && hashed >= failAfter) failInjected(failAfter, path)
          hashed++
          return hashFile(path, root)
        }).pipe(Effect.tap(() => (throttleMs > 0 ? Effect.sleep(throttleMs) : Effect.void)))
      const hashDir = (dir: string) =>
        Effect.suspend(() => {
          const listing = listDir(root, dir)
          return Effect.map(
            Effect.forEach(listing.files, hashOne),
            (files): DirResult => ({ files, dirs: listing.dirs, skippedEntries: listing.skippedEntries, unreadable: listing.unreadable })
          )
        })
      return Effect.map(Effect.forEach(dirs, hashDir), (results) => ({ results, busyMs: performance.now() - t0 }))
    })
})
