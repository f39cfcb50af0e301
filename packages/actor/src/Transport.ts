/**
 * Framed message connections over Unix domain sockets (default) or TCP, on
 * `@effect/platform`'s `Socket`/`SocketServer` (`@effect/platform-node`'s `NodeSocket`,
 * `NodeSocketServer`).
 *
 * A `Connection` carries `Protocol.Message`s: writes are queued and coalesced by one writer fiber
 * (so `send` never blocks on the socket; streams bound what is in flight with credit), reads
 * are decoded frame by frame into a `Mailbox`. A malformed or oversized frame drops the
 * connection with a `ProtocolError` (the mailbox fails with it); the process stays up.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { mkdirSync, unlinkSync } from "node:fs"
import { dirname } from "node:path"
import { threadId } from "node:worker_threads"
import { ProtocolError, TransportClosed, TransportError } from "./Errors.js"
import { type Address, encodeFrame, FrameDecoder, formatAddress, type Message } from "./Protocol.js"

export type { Address } from "./Protocol.js"
export { formatAddress } from "./Protocol.js"

/** Which transport an actor listens on: `uds` (a socket file in `socketDir`) or `tcp` (127.0.0.1, port 0). */
export type TransportKind = "uds" | "tcp"

export interface Connection {
  /** A label for logs: the peer's address or `accepted`. */
  readonly label: string
  /** Queue one message. Fails with `TransportClosed` once closed, `ProtocolError` if it exceeds the frame limit. */
  readonly send: (msg: Message) => Effect.Effect<void, TransportClosed | ProtocolError>
  /** Incoming messages. Ends when the peer closes; fails with `ProtocolError` on a bad frame. */
  readonly messages: Mailbox.ReadonlyMailbox<Message, ProtocolError>
  /** Completes (with the reason) when the connection is closed for any reason. */
  readonly closed: Effect.Effect<string>
  readonly isClosed: () => boolean
  /** Drop the connection now (idempotent). */
  readonly close: (reason: string) => Effect.Effect<void>
}

/**
 * Wrap a platform `Socket` as a message `Connection`, for the life of the current scope.
 * Closing the scope ends the writer (flushing what is queued) and the reader.
 */
export const fromSocket = (
  socket: Socket.Socket,
  label: string,
  maxFrameBytes: number,
  flushMs: number
): Effect.Effect<{ readonly connection: Connection; readonly opened: Effect.Effect<void, TransportError> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Message, ProtocolError>()
    const outgoing = yield* Queue.unbounded<Uint8Array>()
    const closedD = yield* Deferred.make<string>()
    const openedD = yield* Deferred.make<void, TransportError>()
    const decoder = new FrameDecoder(maxFrameBytes)
    let closed = false
    const write = yield* socket.writer

    const markClosed = (reason: string) => {
      if (closed) return
      closed = true
      Deferred.unsafeDone(closedD, Exit.succeed(reason))
    }

    const onData = (chunk: Uint8Array): void => {
      if (closed) return
      try {
        for (const m of decoder.push(chunk)) mailbox.unsafeOffer(m)
      } catch (e) {
        const err = e instanceof ProtocolError ? e : new ProtocolError({ reason: "MalformedFrame", message: String(e) })
        mailbox.unsafeDone(Exit.fail(err))
        markClosed(`${err.reason}: ${err.message}`)
        // Drop the connection: destroy the socket without waiting for the writer.
        Effect.runFork(write(new Socket.CloseEvent(1002, err.reason)).pipe(Effect.interruptible, Effect.timeout(Duration.millis(100)), Effect.ignore))
      }
    }

    const reader = yield* socket.run(onData, { onOpen: Deferred.succeed(openedD, void 0) }).pipe(
      Effect.matchCause({
        onSuccess: () => "closed by peer",
        onFailure: (cause) => {
          Deferred.unsafeDone(openedD, Exit.fail(new TransportError({ address: label, reason: String(cause) })))
          return "connection error"
        }
      }),
      Effect.tap((reason) =>
        Effect.sync(() => {
          mailbox.unsafeDone(Exit.void)
          markClosed(reason)
        })
      ),
      Effect.forkScoped
    )

    const writer = yield* Effect.gen(function*() {
      while (true) {
        const frames = yield* Queue.takeBetween(outgoing, 1, 4096)
        const arr = Chunk.toReadonlyArray(frames)
        let buf: Uint8Array
        if (arr.length === 1) buf = arr[0]!
        else {
          buf = new Uint8Array(arr.reduce((n, f) => n + f.length, 0))
          let o = 0
          for (const f of arr) {
            buf.set(f, o)
            o += f.length
          }
        }
        const r = yield* Effect.either(write(buf))
        if (Either.isLeft(r)) {
          markClosed(`write failed: ${r.left.message}`)
          return
        }
      }
    }).pipe(Effect.forkScoped)

    // On scope close: flush what is queued (bounded), then the socket is ended by `socket.writer`.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const deadline = Date.now() + flushMs
        while (!closed && (yield* Queue.size(outgoing)) > 0 && Date.now() < deadline) yield* Effect.sleep(2)
        const left = yield* Queue.size(outgoing)
        if (!closed && left > 0) yield* Effect.logWarning(`${label}: ${left} frame(s) not flushed within ${flushMs} ms of closing`)
        yield* Fiber.interrupt(writer)
        markClosed("closed locally")
        mailbox.unsafeDone(Exit.void)
        yield* Fiber.interrupt(reader)
      })
    )

    const connection: Connection = {
      label,
      send: (msg) =>
        Effect.suspend((): Effect.Effect<void, TransportClosed | ProtocolError> => {
          if (closed) return Effect.fail(new TransportClosed({ peer: label, reason: "closed" }))
          const frame = encodeFrame(msg, maxFrameBytes)
          if (Either.isLeft(frame)) return Effect.fail(frame.left)
          outgoing.unsafeOffer(frame.right)
          return Effect.void
        }),
      messages: mailbox,
      closed: Deferred.await(closedD),
      isClosed: () => closed,
      close: (reason) =>
        Effect.suspend((): Effect.Effect<void> => {
          if (closed) return Effect.void
          markClosed(reason)
          mailbox.unsafeDone(Exit.void)
          return write(new Socket.CloseEvent(1000, reason)).pipe(Effect.interruptible, Effect.timeout(Duration.millis(100)), Effect.ignore)
        })
    }
    return { connection, opened: Deferred.await(openedD) }
  })

/** Connect to a listener. The connection lives as long as the current scope. */
export const connect = (
  address: Address,
  options: { readonly maxFrameBytes: number; readonly timeoutMs: number; readonly flushMs: number }
): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const label = formatAddress(address)
    const socket = yield* NodeSocket.makeNet(
      address._tag === "UnixAddress"
        ? { path: address.path, openTimeout: Duration.millis(options.timeoutMs) }
        // No Nagle: credits and small frames must not wait for a delayed ACK (~40 ms each).
        : { host: address.hostname, port: address.port, noDelay: true, openTimeout: Duration.millis(options.timeoutMs) }
    ).pipe(Effect.mapError((e) => new TransportError({ address: label, reason: e.message })))
    const { connection, opened } = yield* fromSocket(socket, label, options.maxFrameBytes, options.flushMs)
    yield* opened
    return connection
  })

export interface Listener {
  readonly address: Address
  /** Serve connections until interrupted: each accepted connection runs `handler` in its own scope. */
  readonly run: (handler: (conn: Connection) => Effect.Effect<void, never, Scope.Scope>) => Effect.Effect<never, TransportError>
}

let socketCounter = 0
/** Worker actors share the process id: the thread id keeps their socket paths apart. */
const threadTag = threadId === 0 ? "" : `.${threadId}`

/** A fresh socket path in `socketDir` (short: UDS paths are limited to 107 bytes). */
export const freshSocketPath = (socketDir: string, name: string): string =>
  `${socketDir}/${name.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 16)}-${process.pid}${threadTag}-${++socketCounter}.sock`

/**
 * Bind a listener: UDS at a fresh path in `socketDir` (unlinked on close) or TCP on
 * 127.0.0.1 with a kernel-chosen port — or exactly at `address` when given. Closing the scope stops accepting and drops connections
 * (bounded by `closeMs`).
 */
export const listen = (
  options: {
    readonly transport: TransportKind
    readonly socketDir: string
    readonly name: string
    readonly maxFrameBytes: number
    readonly closeMs: number
    readonly flushMs: number
    /** Bind exactly here instead (a UDS path, or a TCP host and port). */
    readonly address?: Address | undefined
  }
): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const fixed = options.address
    const path = fixed !== undefined
      ? (fixed._tag === "UnixAddress" ? fixed.path : undefined)
      : options.transport === "uds"
      ? freshSocketPath(options.socketDir, options.name)
      : undefined
    if (path !== undefined) {
      yield* Effect.try({
        try: () => mkdirSync(dirname(path), { recursive: true, mode: 0o700 }),
        catch: (e) => new TransportError({ address: path, reason: String(e) })
      })
    }
    const outer = yield* Effect.scope
    const serverScope = yield* Scope.make()
    // NodeSocketServer's finalizer waits for every connection to end: bound it, then move on.
    yield* Scope.addFinalizer(
      outer,
      Scope.close(serverScope, Exit.void).pipe(
        Effect.forkDaemon,
        Effect.flatMap((f) => Fiber.await(f).pipe(Effect.interruptible, Effect.timeout(Duration.millis(options.closeMs)))),
        Effect.catchAll(() => Effect.logWarning(`listener close exceeded ${options.closeMs} ms; abandoned`)),
        Effect.zipRight(Effect.sync(() => {
          if (path !== undefined) {
            try {
              unlinkSync(path)
            } catch {
              // already gone
            }
          }
        }))
      )
    )
    const tcp = fixed?._tag === "TcpAddress"
      ? { host: fixed.hostname, port: fixed.port, noDelay: true }
      : { host: "127.0.0.1", port: 0, noDelay: true }
    const server = yield* NodeSocketServer.make(path !== undefined ? { path } : tcp).pipe(
      Scope.extend(serverScope),
      Effect.mapError((e) => new TransportError({ address: path ?? "tcp:127.0.0.1:0", reason: String(e.cause) }))
    )
    const address: Address = server.address._tag === "UnixAddress"
      ? { _tag: "UnixAddress", path: server.address.path }
      : { _tag: "TcpAddress", hostname: server.address.hostname, port: server.address.port }
    const label = formatAddress(address)
    return {
      address,
      run: (handler) =>
        server.run((socket) =>
          Effect.scoped(
            Effect.gen(function*() {
              const { connection } = yield* fromSocket(socket, `accepted@${label}`, options.maxFrameBytes, options.flushMs)
              yield* handler(connection)
            })
          )
        ).pipe(Effect.mapError((e) => new TransportError({ address: label, reason: String(e.cause) })))
    }
  })
