/**
 * The socket carrier: Unix domain sockets and TCP on `node:net`, framed by `Wire`.
 *
 * - **Writes** are framed at `write` (so a frame over the limit is refused to its sender) into
 *   `Wire.FrameWriter`'s slab; what was written until the next microtask goes out once, then: one
 *   `write` of the frames laid out back to back (a corked `writev` when they span slabs). Backpressure: `send` suspends while more than
 *   `maxQueuedBytes` wait (our queue + the socket's own buffer), until `'drain'`.
 * - **Reads** go straight from `'data'` through the `FrameDecoder` to the receiver; a bad frame
 *   drops the connection (messages before it are delivered) and nothing else.
 * - **Close** is bounded: queued frames are handed to the kernel (`end()` → `'finish'`, at most
 *   `flushMs`), then the descriptor is closed; a peer that does not read cannot hold it open.
 * - TCP runs without Nagle (credits and small frames must not wait for a delayed ACK).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { chmodSync, mkdirSync, unlinkSync } from "node:fs"
import * as net from "node:net"
import { dirname } from "node:path"
import { threadId } from "node:worker_threads"
import { TransportError } from "../Errors.js"
import { ConnectionCore } from "../internal/connection.js"
import { type Address, formatAddress, type Message } from "../Protocol.js"
import type { Connection, Limits, Listener, TransportKind, WriteError } from "../Transport.js"
import { FrameDecoder, FrameWriter } from "../Wire.js"
import { acquireReleaseBare } from "../internal/resource.js"

class SocketConnection extends ConnectionCore {
  private readonly writer: FrameWriter
  private readonly decoder: FrameDecoder

  constructor(private readonly socket: net.Socket, label: string, limits: Limits) {
    super(label, limits)
    this.writer = new FrameWriter(limits.maxFrameBytes)
    this.decoder = new FrameDecoder(limits.maxFrameBytes)
    socket.on("data", (chunk: Buffer) => {
      if (this.isClosed()) return
      this.stats.bytesIn += chunk.length
      const e = this.decoder.push(chunk, this.onFrame)
      if (e !== undefined) this.violation(e)
    })
    socket.on("drain", () => this.drained())
    socket.on("end", () => this.markClosed("closed by peer"))
    socket.on("error", (e) => this.markClosed(`socket error: ${e.message}`))
    socket.on("close", () => this.markClosed("closed"))
  }

  private readonly onFrame = (msg: Message, frameBytes: number) => this.deliver(msg, frameBytes)

  protected enqueue(msg: Message): WriteError | undefined {
    const e = this.writer.push(msg)
    if (e !== undefined) return e
    this.scheduleFlush()
    return undefined
  }

  protected flushQueued(): void {
    const n = this.writer.pending
    if (n === 0) return
    const parts = this.writer.take()
    if (this.socket.destroyed) return
    this.stats.bytesOut += n
    if (parts.length === 1) this.socket.write(parts[0]!)
    else {
      this.socket.cork()
      for (const p of parts) this.socket.write(p)
      this.socket.uncork()
    }
    this.drained()
  }

  protected pendingBytes(): number {
    return this.writer.pending + this.socket.writableLength
  }

  protected shutdown(graceful: boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const socket = this.socket
      if (!graceful || socket.destroyed) {
        socket.destroy()
        return resume(Effect.void)
      }
      this.runFlush()
      const done = () => {
        clearTimeout(timer)
        socket.destroy()
        resume(Effect.void)
      }
      // Everything handed to the kernel ('finish') is delivered after close(2) too.
      const timer = setTimeout(done, this.limits.flushMs)
      socket.once("finish", done)
      socket.once("close", done)
      socket.end()
      return Effect.sync(() => {
        clearTimeout(timer)
        socket.destroy()
      })
    })
  }
}

/** Wrap a connected `net.Socket` as a `Connection` for the life of the current scope. */
export const fromNetSocket = (socket: net.Socket, label: string, limits: Limits): Effect.Effect<Connection, never, Scope.Scope> =>
  acquireReleaseBare(
    Effect.sync(() => new SocketConnection(socket, label, limits)),
    (c) => c.close("closed locally")
  )

/** Connect to a listener (bounded by `timeoutMs`). The connection lives as long as the current scope. */
export const connect = (address: Address, limits: Limits, timeoutMs: number): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.flatMap(
    acquireReleaseBare(
      Effect.async<net.Socket, TransportError>((resume) => {
        const label = formatAddress(address)
        const socket = address._tag === "UnixAddress"
          ? net.createConnection({ path: address.path })
          : net.createConnection({ host: address.hostname, port: address.port, noDelay: true })
        const fail = (reason: string) => {
          clearTimeout(timer)
          socket.destroy()
          resume(Effect.fail(new TransportError({ address: label, reason })))
        }
        const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs)
        socket.once("error", (e: NodeJS.ErrnoException) => fail(describeErrno(e)))
        socket.once("connect", () => {
          clearTimeout(timer)
          socket.removeAllListeners("error")
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => {
          clearTimeout(timer)
          socket.destroy()
        })
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    (socket) => fromNetSocket(socket, formatAddress(address), limits)
  )

const describeErrno = (e: NodeJS.ErrnoException): string =>
  e.code === "ENOENT" ? "no such socket" : e.code === "ECONNREFUSED" ? "connection refused" : e.message

let socketCounter = 0
/** Worker actors share the process id: the thread id keeps their socket paths apart. */
// Read when a path is made, not at module load (a V8 startup snapshot must not load worker_threads).
const threadTag = () => (threadId === 0 ? "" : `.${threadId}`)

/** A fresh socket path in `socketDir` (short: UDS paths are limited to 107 bytes). */
export const freshSocketPath = (socketDir: string, name: string): string =>
  `${socketDir}/${name.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 16)}-${process.pid}${threadTag()}-${++socketCounter}.sock`

export interface ListenOptions {
  readonly transport: TransportKind
  /** Directory of UDS socket files (created 0700 when missing). */
  readonly socketDir: string
  readonly name: string
  readonly limits: Limits
  /** Closing the listener waits at most this for connection handlers to end (ms). */
  readonly closeMs: number
  /** Bind exactly here instead (a UDS path, or a TCP host and port). */
  readonly address?: Address | undefined
}

/**
 * Bind a listener: UDS at a fresh path in `socketDir` (mode 0600, unlinked on close) or TCP on
 * 127.0.0.1 with a kernel-chosen port — or exactly at `address`. Closing the scope stops
 * accepting, ends every connection handler (bounded by `closeMs`) and removes the socket file.
 */
export const listen = (options: ListenOptions): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const fixed = options.address
    const path = fixed !== undefined
      ? (fixed._tag === "UnixAddress" ? fixed.path : undefined)
      : options.transport === "uds"
      ? freshSocketPath(options.socketDir, options.name)
      : undefined
    const where = path ?? (fixed?._tag === "TcpAddress" ? `tcp:${fixed.hostname}:${fixed.port}` : "tcp:127.0.0.1:0")
    const server = yield* acquireReleaseBare(
      Effect.async<net.Server, TransportError>((resume) => {
        if (path !== undefined) {
          try {
            mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
          } catch (e) {
            return resume(Effect.fail(new TransportError({ address: path, reason: String(e) })))
          }
        }
        const server = net.createServer({ noDelay: true })
        server.once("error", (e) => resume(Effect.fail(new TransportError({ address: where, reason: e.message }))))
        const onListening = () => {
          server.removeAllListeners("error")
          server.on("error", () => {}) // accept errors (EMFILE) must not crash the actor
          if (path !== undefined) {
            try {
              chmodSync(path, 0o600)
            } catch {
              // the directory is private anyway
            }
          }
          resume(Effect.succeed(server))
        }
        if (path !== undefined) server.listen(path, onListening)
        else if (fixed?._tag === "TcpAddress") server.listen(fixed.port, fixed.hostname, onListening)
        else server.listen(0, "127.0.0.1", onListening)
      }),
      (server) =>
        Effect.sync(() => {
          server.close()
          if (path !== undefined) {
            try {
              unlinkSync(path)
            } catch {
              // already gone
            }
          }
        })
    )
    const bound = server.address()
    const address: Address = path !== undefined
      ? { _tag: "UnixAddress", path }
      : { _tag: "TcpAddress", hostname: (bound as net.AddressInfo).address, port: (bound as net.AddressInfo).port }
    const label = `accepted@${formatAddress(address)}`
    const listener: Listener = {
      address,
      run: (handler) =>
        Effect.gen(function*() {
          const handlers = yield* Scope.make()
          const running = yield* FiberSet.make<void, never>().pipe(Scope.extend(handlers))
          const run = yield* FiberSet.runtime(running)<never>()
          const onConnection = (socket: net.Socket) => {
            if (address._tag === "TcpAddress") socket.setNoDelay(true)
            run(Effect.scoped(Effect.flatMap(fromNetSocket(socket, label, options.limits), handler)))
          }
          server.on("connection", onConnection)
          // Ending the handlers is bounded: one stuck in a finalizer is abandoned, and logged.
          const stop = Effect.sync(() => server.off("connection", onConnection)).pipe(
            Effect.zipRight(FiberSet.size(running)),
            Effect.flatMap((live) => {
              // None running (a leaf actor nobody connected to): nothing to bound, no fiber to fork.
              if (live === 0) return Scope.close(handlers, Exit.void)
              return Scope.close(handlers, Exit.void).pipe(
                Effect.forkDaemon,
                Effect.flatMap((f) => Fiber.await(f).pipe(Effect.interruptible, Effect.timeoutOption(options.closeMs))),
                Effect.flatMap((o) =>
                  Option.isNone(o) ? Effect.logWarning(`${label}: connections still closing ${options.closeMs} ms after the listener closed; abandoned`) : Effect.void
                )
              )
            })
          )
          return yield* Effect.ensuring(Effect.never, stop)
        })
    }
    return listener
  })

