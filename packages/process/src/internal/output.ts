/**
 * One output of a child (stdout or stderr): how it is wired at spawn, how it is read, and when
 * it reached EOF. Output is always drained — to the caller (`stream`, `onChunk`), to a file, or
 * discarded — so a silent caller can never block a child on a full pipe.
 *
 * With the addon the child gets a real pipe(2) whose inode we know from our read end; without
 * it, Node's socketpair, and the child-side inode is read from `/proc/<pid>/fd/N` right after
 * spawn. Either way the inode is what the orphan pipe-writer scan looks for.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import type { ChildProcess } from "node:child_process"
import { closeSync, fstatSync, openSync } from "node:fs"
import { Socket } from "node:net"
import type { Readable } from "node:stream"
import { native } from "../Native.js"
import * as procfs from "./procfs.js"
import { Signal, waitFor } from "./signal.js"

export type Output =
  | "stream"
  | "discard"
  | "inherit"
  | { readonly file: string }
  | {
    readonly onChunk: (chunk: Uint8Array) => void
    /** Called once when the output ends (EOF, or closed after the drain bound): flush what you hold. */
    readonly onEnd?: () => void
  }

export interface OutputChannel {
  /** What to put in `child_process.spawn`'s `stdio` array. */
  readonly stdio: "pipe" | "inherit" | number
  /**
   * Wire the reader once the child exists (closes our copy of the child's end). `child`: Node's,
   * when Node started it (a `"pipe"` channel reads its stdout/stderr; posix_spawn never gets one).
   */
  readonly attach: (child: ChildProcess | undefined) => void
  /** Close what we opened when the spawn failed. */
  readonly abort: () => void
  /** The inode of the child's end, when the child writes to a pipe/socket we read. */
  readonly inode: () => number | undefined
  readonly stream: Stream.Stream<Uint8Array>
  /** Happens at EOF (or at `forceClose`). */
  readonly ended: Signal<void>
  readonly isOpen: () => boolean
  /** Time (ms since epoch) of the last chunk read. */
  readonly lastActivity: () => number
  /** Stop reading and end the stream (after the drain bound expired). */
  readonly forceClose: () => void
}

/**
 * `maxBuffered` bounds what a `stream` output holds that its reader has not taken (bytes). An
 * output nobody has started to read is still drained — the child never blocks on it — and what
 * exceeds the bound is discarded (logged once: nobody is listening). Once the stream is being
 * read, a reader slower than the child backpressures it, as a pipe would: reading pauses at the
 * bound and resumes at half of it.
 */
export const make = (output: Output, fd: 1 | 2, maxBuffered: number): Effect.Effect<OutputChannel> =>
  Effect.gen(function*() {
    const ended = new Signal<void>()
    const mailbox = yield* Mailbox.make<Uint8Array>()
    let last = Date.now()
    let reader: Readable | undefined
    let buffered = 0
    let pulled = false
    let paused = false
    let discarded = 0
    let inode: number | undefined
    const onEnd = typeof output === "object" && "onChunk" in output ? output.onEnd : undefined
    const finish = () => {
      if (ended.isDone()) return
      onEnd?.()
      mailbox.unsafeDone(Exit.void)
      ended.complete(undefined)
    }
    const offer = (chunk: Uint8Array) => {
      if (buffered + chunk.length > maxBuffered) {
        if (!pulled) {
          if (discarded === 0) {
            Effect.runFork(Effect.logWarning(`fd ${fd}: unread output over ${maxBuffered} bytes; discarding what nobody reads`))
          }
          discarded += chunk.length
          return
        }
        if (!paused) {
          paused = true
          reader?.pause()
        }
      }
      buffered += chunk.length
      mailbox.unsafeOffer(chunk)
    }
    const taken = (bytes: number) => {
      buffered -= bytes
      if (paused && buffered <= maxBuffered / 2) {
        paused = false
        reader?.resume()
      }
    }
    const deliver = output === "stream"
      ? offer
      : typeof output === "object" && "onChunk" in output
      ? output.onChunk
      : (_: Uint8Array) => {}

    const read = (r: Readable) => {
      reader = r
      r.on("data", (chunk: Buffer) => {
        last = Date.now()
        deliver(chunk)
      })
      r.once("end", finish)
      r.once("close", finish)
      r.once("error", finish)
    }

    const base = {
      stream: Stream.suspend(() => {
        pulled = true
        return Mailbox.toStream(mailbox).pipe(
          Stream.mapChunks((chunks) => {
            let n = 0
            for (const c of chunks) n += c.length
            taken(n)
            return chunks
          })
        )
      }),
      ended,
      isOpen: () => !ended.isDone(),
      lastActivity: () => last,
      inode: () => inode,
      forceClose: () => {
        reader?.destroy()
        finish()
      }
    }

    if (output === "inherit" || (typeof output === "object" && "file" in output)) {
      const fileFd = output === "inherit" ? undefined : openSync(output.file, "w")
      finish() // nothing for us to read
      return {
        ...base,
        stdio: fileFd ?? "inherit",
        attach: () => fileFd !== undefined && closeSync(fileFd),
        abort: () => fileFd !== undefined && closeSync(fileFd)
      }
    }

    if (native !== undefined) {
      const [r, w] = native.pipe()
      inode = fstatSync(r).ino
      return {
        ...base,
        stdio: w,
        attach: () => {
          closeSync(w) // only the child (and what it starts) may hold the write end
          read(new Socket({ fd: r, readable: true, writable: false }))
        },
        abort: () => {
          closeSync(w)
          closeSync(r)
        }
      }
    }

    return {
      ...base,
      stdio: "pipe",
      attach: (child) => {
        if (child === undefined) return
        if (child.pid !== undefined) inode = procfs.fdInode(child.pid, fd)
        read(fd === 1 ? child.stdout! : child.stderr!)
      },
      abort: () => {}
    }
  })

/** Wait up to `ms` for every channel's EOF, leaving them open either way; true if all reached it. */
export const awaitEof = (channels: ReadonlyArray<OutputChannel>, ms: number): Effect.Effect<boolean> =>
  waitFor(channels.map((c) => c.ended), "all", ms)

/** Wait up to `ms` for every channel's EOF; on expiry force-close them. True if all reached EOF. */
export const drain = (channels: ReadonlyArray<OutputChannel>, ms: number): Effect.Effect<boolean> =>
  awaitEof(channels, ms).pipe(
    Effect.tap((ok) => Effect.sync(() => ok || channels.forEach((c) => c.forceClose())))
  )
