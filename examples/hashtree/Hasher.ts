/**
 * The hashing actor. One call endpoint, `hashDirs`: walk part of a tree (relative to `root`) from
 * a few directories, depth-first, hashing their files, until the task's file budget is spent;
 * the answer holds, per subtree walked whole, its Merkle digest (`dirDigest` of
 * examples/hashtree/TreeDigest.ts) and, per directory walked only in part, its files' digest
 * (`filesDigest`): the actor digests what it hashed, so the answer carries a few records, not one
 * per file or directory (the default tree's ~3,000 directories come back as ~770 records
 * with the demo's default budget; records took the root's CPU during the pass from ~80 to
 * ~45 ms at a budget of 512 files). Each record has its counts
 * and bytes and the files that could not be read. And the **frontier**: every directory it was given or found and did not walk, which the
 * caller hands out again as new tasks. So a task costs about its budget whatever the shape of
 * the tree (a task of whole directories cost anything from one empty directory to a whole
 * package), the walk goes down a deep tree without a round trip through the caller per level,
 * and the frontier still spreads the rest of the tree over the actors. The walk itself is
 * spread over the actors (examples/hashtree/Parallel.ts runs them as an `ActorPool`), so the
 * caller only folds these records.
 *
 * A task runs `walkFrom`, which is also the whole single-process pass (with no budget): both
 * passes run the same code. It hashes a directory's files in one synchronous loop (a file that
 * ends in its first chunk needs no Effect step, examples/hashtree/HashFile.ts), so the actor
 * takes a cancel between directories and between the chunks of a large file.
 *
 * `failAfter: K` makes this actor throw (an untyped `Error`, so it crosses the wire as a
 * `RemoteActorError` with the remote stack) when it is about to hash its file K + 1 (counted
 * over every directory this actor has hashed).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Actor from "@troupe/actor/Actor"
import * as Endpoint from "@troupe/actor/Endpoint"
import { type FileHash, hashFile, hashFileNow } from "./HashFile.js"
import { dirDigest, filesDigest, type TreeDigest } from "./TreeDigest.js"
import { listDir, type WalkStats } from "./Walker.js"

/**
 * Part of a walk done: a subtree walked whole (`tree`), or one directory whose subtree was walked
 * only in part (`dir`: its own files; the rest of its subtree comes in other records).
 */
export const DirResultSchema = Schema.Struct({
  /** The directory (relative to the root; `""`: the root). */
  dir: Schema.String,
  kind: Schema.Literal("dir", "tree"),
  /**
   * `dir`: its readable files' `filesDigest`; `tree`: the subtree's digest (`dirDigest`,
   * examples/hashtree/TreeDigest.ts); `null`: no readable file in it.
   */
  digest: Schema.NullOr(Schema.String),
  /** Readable files in it: how many, and their total size (bytes). */
  files: Schema.Number,
  bytes: Schema.Number,
  /** Files in it that could not be read (paths relative to the root), with their error codes (`EACCES`, `ENOENT`, ...). */
  unreadableFiles: Schema.Array(Schema.Struct({ path: Schema.String, error: Schema.String })),
  /** Entries in it that are neither files nor directories (symlinks, sockets, fifos, devices). */
  skippedEntries: Schema.Number,
  /** Directories in it that were read, and that could not be. */
  dirs: Schema.Number,
  unreadableDirs: Schema.Number
})
export type DirResult = typeof DirResultSchema.Type

export const Hasher = Actor.define("Hasher", {
  hashDirs: Endpoint.call({
    payload: Schema.Struct({
      /** The tree's root; `dirs` are relative to it. */
      root: Schema.String,
      /** Where to start: directories to walk (`""`: the root), first one first. */
      dirs: Schema.Array(Schema.String),
      /**
       * Directories of `dirs` whose own files only this task hashes: the caller listed them and
       * hands their subdirectories out itself (the demo's root lists the tree's root while the
       * actors boot). Their records are `dir` records. Default: none.
       */
      filesOnly: Schema.optional(Schema.Array(Schema.String)),
      /**
       * The task's budget, in files, a file counting as `1 + bytes / budgetBytesPerFile`: it
       * takes no further directory once it has spent it (it always walks one, so every task
       * makes progress).
       */
      budget: Schema.Number,
      /** Throw after this many files (`--fail-after`); `null`: never. */
      failAfter: Schema.NullOr(Schema.Number),
      /** Pause this long after each file (`--throttle-ms`: makes a small tree last long enough to watch or interrupt). */
      throttleMs: Schema.Number
    }),
    /**
     * The walk's records (`collapse`: one per subtree walked whole, one per directory walked in
     * part); the frontier (directories given or found and not walked: together with the walked
     * ones they cover the given directories' subtrees exactly once);
     * and the time this actor has been busy so far (ms: wall time with at least one task of it
     * running; its tasks overlap when the pool's window is above 1).
     */
    success: Schema.Struct({ results: Schema.Array(DirResultSchema), frontier: Schema.Array(Schema.String), busyMs: Schema.Number })
  }),
  /**
   * Work stealing: take part of the walks this actor is running (`handBack`) and answer with
   * those directories, for the caller to hand out as new tasks (to an actor with nothing to do).
   * Each running task answers later without them: its frontier leaves them out, and its records
   * keep the directories above them open. `dirs` is empty when no running walk has a directory
   * left to give.
   */
  handBack: Endpoint.call({
    payload: Schema.Struct({}),
    success: Schema.Struct({ dirs: Schema.Array(Schema.String) })
  })
})

/** Thrown by `--fail-after`: an ordinary bug, as far as the runtime knows. */
export class InjectedFailure extends Error {
  override readonly name = "InjectedFailure"
}

function failInjected(after: number, path: string): never {
  throw new InjectedFailure(`injected failure (--fail-after ${after}): refusing to hash ${path}`)
}

/** One directory's record from its files' hashes (paths relative to the root, all in `dir`). */
const summarize = (dir: string, hashes: ReadonlyArray<FileHash>, listing: ReturnType<typeof listDir>): DirResult => {
  const cut = dir === "" ? 0 : dir.length + 1
  const readable: Array<readonly [string, number, string]> = []
  const unreadableFiles: Array<{ path: string; error: string }> = []
  let bytes = 0
  for (const h of hashes) {
    if (h.sha256 === null) unreadableFiles.push({ path: h.path, error: h.error ?? "unknown" })
    else {
      readable.push([h.path.slice(cut), h.bytes, h.sha256])
      bytes += h.bytes
    }
  }
  return {
    dir,
    kind: "dir",
    digest: readable.length > 0 ? filesDigest(readable) : null,
    files: readable.length,
    bytes,
    unreadableFiles,
    skippedEntries: listing.skippedEntries,
    dirs: listing.unreadable ? 0 : 1,
    unreadableDirs: listing.unreadable ? 1 : 0
  }
}

const parentOf = (dir: string): string => dir.slice(0, Math.max(0, dir.lastIndexOf("/")))

/**
 * A walk's directory records (`kind: "dir"`, depth-first order) as the fewest records: every
 * subtree walked whole (none of it in the `frontier`) as one `tree` record, the largest such
 * subtrees only; a directory with part of its subtree in the frontier keeps its own record. The
 * frontier never holds a directory together with one under it, so a walked directory's
 * subdirectories were all walked or are all in the frontier.
 */
export const collapse = (walked: ReadonlyArray<DirResult>, frontier: ReadonlyArray<string>): Array<DirResult> => {
  // Directories with part of their subtree in the frontier: the frontier's ancestors.
  const open = new Set<string>()
  for (const f of frontier) {
    for (let d = f; d !== "" && !open.has(parentOf(d));) open.add((d = parentOf(d)))
  }
  const walkedDirs = new Set(walked.map((r) => r.dir))
  // Subdirectories' subtrees, by parent: each directory comes after its parent depth-first, so
  // walking backwards every subtree is complete before its parent's.
  const subtrees = new Map<string, Array<DirResult>>()
  const out: Array<DirResult> = []
  for (let i = walked.length - 1; i >= 0; i--) {
    const r = walked[i]!
    if (open.has(r.dir)) {
      out.push(r)
      continue
    }
    const subs = subtrees.get(r.dir) ?? []
    subtrees.delete(r.dir)
    const tree = { ...r, kind: "tree" as const, unreadableFiles: [...r.unreadableFiles] }
    const named: Array<readonly [string, string]> = []
    for (const s of subs) {
      tree.files += s.files
      tree.bytes += s.bytes
      tree.skippedEntries += s.skippedEntries
      tree.dirs += s.dirs
      tree.unreadableDirs += s.unreadableDirs
      for (const u of s.unreadableFiles) tree.unreadableFiles.push(u)
      if (s.digest !== null) named.push([s.dir.slice(r.dir === "" ? 0 : r.dir.length + 1), s.digest])
    }
    tree.digest = tree.files > 0 ? dirDigest(r.digest, named) : null
    const parent = parentOf(r.dir)
    if (r.dir !== "" && walkedDirs.has(parent) && !open.has(parent)) {
      const siblings = subtrees.get(parent)
      if (siblings === undefined) subtrees.set(parent, [tree])
      else siblings.push(tree)
    } else out.push(tree)
  }
  return out.reverse()
}

/** Files this actor has hashed (each actor is its own process or thread: its own count). */
let hashed = 0

/** The walks this actor's tasks are running (`handBack` takes from them). */
const running = new Set<Walk>()

/** This actor's busy time: tasks running now, since when, and the busy time before that (ms). */
const busy = { running: 0, since: 0, before: 0 }
const taskStarted = () => {
  if (busy.running++ === 0) busy.since = performance.now()
}
const taskEnded = () => {
  if (--busy.running === 0) busy.before += performance.now() - busy.since
}
/** Busy so far (ms): with one or more tasks running, including the current stretch. */
const busySoFar = () => busy.before + (busy.running > 0 ? performance.now() - busy.since : 0)

/**
 * Bytes that cost a task's budget as much as one more file. A file costs a fixed part (open, read,
 * close, a hash object: ~14 µs here) and a part per byte (sha256 with SHA-NI, the copy from the
 * page cache: ~0.66 ms per MB), fitted to the single-process pass over the demo's default tree
 * (15,403 files, 175 MB, 331 ms) and /usr/lib (59,654 files, 4.2 GB, 3.6 s): 1 MB costs as much as
 * ~47 files. Counted in files alone, a budget let one task of large files run several times as
 * long as another, and the end of a walk waited for it (/usr/lib, 2 actors, 1,024 files a task:
 * 1.55× one process against 1.71× at 512).
 */
export const budgetBytesPerFile = 22_000

/**
 * How long walks run before they let the event loop in (ms), between directories: Effect's
 * scheduler runs ready fibers on microtasks (a timer turn only every 2,048), so without it an actor
 * busy hashing would read its socket (a new task, a `handBack`, a cancel) only once its running
 * tasks had ended.
 */
const turnMs = 2
/** When the event loop last had a turn (performance.now(), ms; one clock for every walk in this process). */
let lastTurn = 0
/** Let the event loop in: resume from `setImmediate`, after the loop's poll phase (I/O). */
const letIn: Effect.Effect<void> = Effect.async<void>((resume) => {
  lastTurn = performance.now()
  const h = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(h))
})

/**
 * A running walk, as `handBack` sees it: the directories it has still to walk (`stack`, the next
 * one last) and those it handed back.
 */
export interface Walk {
  readonly stack: Array<string>
  readonly handedBack: Array<string>
  /** Whether it has taken its first directory (`handBack` takes nothing from a walk that has not). */
  started: boolean
}

/**
 * Take work from running walks: from each that has started, the bottom half of its stack (rounded
 * up: what it would walk last, and most likely leave in its frontier anyway), recorded in its
 * `handedBack`. Answers the directories taken, in the order the walks would have walked them. A
 * walk keeps the directory it is in; one whose stack is empty gives nothing.
 */
export const handBack = (walks: Iterable<Walk>): Array<string> => {
  const taken: Array<string> = []
  for (const w of walks) {
    const n = w.started ? Math.ceil(w.stack.length / 2) : 0
    if (n === 0) continue
    const part = w.stack.splice(0, n).reverse()
    for (const d of part) {
      w.handedBack.push(d)
      taken.push(d)
    }
  }
  return taken
}

/**
 * Walk from `dirs` (first one first), depth-first, hashing each directory's files with `hashOne`
 * (a `FileHash` at once, or an Effect for one that needs it), until the files hashed have cost
 * `budget` (each `1 + bytes / budgetBytesPerFile`; at least one directory is walked): one `dir`
 * record per directory walked, in order, the frontier, and the directories `handBack` took from
 * it (with the subdirectories of `filesOnly` directories, whose own files only it hashes: like
 * those, they are walked elsewhere). Given `running` (an actor's walk), the walk is in it while it
 * runs and lets the event loop in every `turnMs`; the single-process pass gives none. `walkFrom`
 * is this walk, its records collapsed.
 */
export const walkDirs = (
  root: string,
  dirs: ReadonlyArray<string>,
  budget: number,
  hashOne: (path: string) => FileHash | Effect.Effect<FileHash> = (path) => hashFileNow(path, root),
  running?: Set<Walk>,
  filesOnly: ReadonlyArray<string> = []
): Effect.Effect<{ readonly results: Array<DirResult>; readonly frontier: Array<string>; readonly handedBack: Array<string> }> =>
  Effect.suspend(() => {
    // Depth-first: the next directory is the stack's last; a directory's subdirectories go on
    // top of it, first one last, so they are walked in listing order.
    const stack = [...dirs].reverse()
    const walk: Walk = { stack, handedBack: [], started: false }
    const results: Array<DirResult> = []
    /** The budget spent so far (files, each `1 + bytes / budgetBytesPerFile`). */
    let spent = 0
    const hashAll = (list: ReadonlyArray<string>, out: Array<FileHash>, from: number): Effect.Effect<Array<FileHash>> =>
      Effect.suspend(() => {
        for (let i = from; i < list.length; i++) {
          const r = hashOne(list[i]!)
          if (Effect.isEffect(r)) return Effect.flatMap(r, (h) => (out.push(h), hashAll(list, out, i + 1)))
          out.push(r)
        }
        return Effect.succeed(out)
      })
    const step: Effect.Effect<void> = Effect.suspend(() => {
      if (stack.length === 0 || (results.length > 0 && spent >= budget)) return Effect.void
      if (running !== undefined && performance.now() - lastTurn >= turnMs) return Effect.zipRight(letIn, step)
      const dir = stack.pop()!
      walk.started = true
      const listing = listDir(root, dir)
      if (filesOnly.includes(dir)) for (const d of listing.dirs) walk.handedBack.push(d)
      else for (let i = listing.dirs.length - 1; i >= 0; i--) stack.push(listing.dirs[i]!)
      return Effect.flatMap(hashAll(listing.files, [], 0), (hashes) => {
        const record = summarize(dir, hashes, listing)
        spent += listing.files.length + record.bytes / budgetBytesPerFile
        results.push(record)
        return step
      })
    })
    if (running === undefined) return Effect.map(step, () => ({ results, frontier: stack.reverse(), handedBack: walk.handedBack }))
    running.add(walk)
    // Its first turn comes after `turnMs` of walking: what a `handBack` then takes is its stack
    // after it has listed where it starts.
    lastTurn = performance.now()
    return step.pipe(
      Effect.ensuring(Effect.sync(() => running.delete(walk))),
      Effect.map(() => ({ results, frontier: stack.reverse(), handedBack: walk.handedBack }))
    )
  })

/**
 * Walk from `dirs` as `walkDirs` does, and answer with its records collapsed (`collapse`; the
 * directories handed back count as frontier there): the actor's task, and with no budget the
 * single-process pass (one `tree` record).
 */
export const walkFrom = (
  root: string,
  dirs: ReadonlyArray<string>,
  budget: number,
  hashOne?: (path: string) => FileHash | Effect.Effect<FileHash>,
  running?: Set<Walk>,
  filesOnly?: ReadonlyArray<string>
): Effect.Effect<{ readonly results: Array<DirResult>; readonly frontier: Array<string> }> =>
  Effect.map(walkDirs(root, dirs, budget, hashOne, running, filesOnly), ({ frontier, handedBack, results }) => ({
    results: collapse(results, handedBack.length === 0 ? frontier : [...frontier, ...handedBack]),
    frontier
  }))

/** Fold one record into a tree digest and walk counts (the root's side of a task). */
export const foldDir = (tree: TreeDigest, stats: WalkStats, result: DirResult): void => {
  if (result.digest !== null) {
    const summary = { files: result.files, bytes: result.bytes }
    if (result.kind === "dir") tree.addDir(result.dir, { filesDigest: result.digest, ...summary })
    else tree.addTree(result.dir, { digest: result.digest, ...summary })
  }
  for (const u of result.unreadableFiles) tree.skip(u.path, u.error)
  stats.dirs += result.dirs
  stats.unreadableDirs += result.unreadableDirs
  stats.skippedEntries += result.skippedEntries
  stats.files += result.files + result.unreadableFiles.length
}

export const HasherLive = Hasher.implement(import.meta.url, {
  hashDirs: ({ budget, dirs, failAfter, filesOnly, root, throttleMs }) =>
    Effect.suspend(() => {
      const hashOne = (path: string): FileHash | Effect.Effect<FileHash> => {
        if (failAfter !== null && hashed >= failAfter) failInjected(failAfter, path)
        hashed++
        return throttleMs > 0 ? Effect.zipLeft(hashFile(path, root), Effect.sleep(throttleMs)) : hashFileNow(path, root)
      }
      taskStarted()
      return walkFrom(root, dirs, budget, hashOne, running, filesOnly).pipe(
        Effect.ensuring(Effect.sync(taskEnded)),
        Effect.map(({ frontier, results }) => ({ results, frontier, busyMs: busySoFar() }))
      )
    }),
  handBack: () => Effect.sync(() => ({ dirs: handBack(running) }))
})
