/**
 * The `MessagePort` carrier: a worker actor and its parent thread talk over a
 * `MessageChannel` instead of a socket — no msgpack, no system call, no kernel copy; messages
 * are structured-cloned, and what arrives is checked by `Wire.validate` like socket input.
 *
 * Writes queued until the next microtask go out as one `postMessage` of an array. A `message`
 * event also takes the batches queued behind its own (`receiveMessageOnPort`, at most
 * `DRAIN_BATCHES` = 32 in all), so that with many calls in flight the answers those cause leave
 * together, in one `postMessage` and one wake-up of the peer's thread, instead of one each (Node
 * runs the microtasks, and so the flush, between two `message` events). A value structured clone
 * cannot copy (a function, a symbol) is found at that flush; the other messages of the batch are
 * still delivered, and the receiver is told which one was not (`Receiver.onUndeliverable`), so
 * its session ends with a typed error on both sides. `maxFrameBytes` does not apply (the worker
 * shares this process's memory); `send`'s backpressure does not either (a port has no buffer to
 * fill that the receiver does not already hold: credit bounds streams).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads"
import { ProtocolError } from "../Errors.js"
import { ConnectionCore } from "../internal/connection.js"
import type { Message } from "../Protocol.js"
import type { Connection, Limits, WriteError } from "../Transport.js"
import { validate } from "../Wire.js"
import { acquireReleaseBare } from "../internal/resource.js"

/** Queued batches one `message` event takes at most (the first included): fairness to the rest of the event loop. */
const DRAIN_BATCHES = 32

class PortConnection extends ConnectionCore {
  private queue: Array<Message> = []

  constructor(private readonly port: MessagePort, label: string, limits: Limits) {
    super(label, limits)
    port.on("message", (batch: unknown) => {
      // This batch and those queued behind it, at most DRAIN_BATCHES in all, delivered in one
      // go: the answers they cause leave in one postMessage (one wake-up of the peer), not one each.
      for (let taken = 1; this.take(batch) && taken < DRAIN_BATCHES; taken++) {
        const next = receiveMessageOnPort(port)
        if (next === undefined) return
        batch = next.message
      }
    })
    port.on("close", () => this.markClosed("closed by peer"))
  }

  /** Validate and deliver one batch; false once the connection is closed (by it or before). */
  private take(batch: unknown): boolean {
    if (this.isClosed()) return false
    if (!Array.isArray(batch)) {
      this.violation(new ProtocolError({ reason: "MalformedFrame", message: "not a batch" }))
      return false
    }
    for (const u of batch) {
      const msg = validate(u)
      if (msg instanceof ProtocolError) {
        this.violation(msg)
        return false
      }
      this.deliver(msg)
      if (this.isClosed()) return false
    }
    return true
  }

  protected enqueue(msg: Message): WriteError | undefined {
    this.queue.push(msg)
    this.scheduleFlush()
    return undefined
  }

  protected flushQueued(): void {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    try {
      this.port.postMessage(batch)
    } catch {
      // Find the culprit(s): the rest is delivered, in order.
      for (const m of batch) {
        try {
          this.port.postMessage([m])
        } catch (e) {
          this.undeliverable(m, new ProtocolError({ reason: "MalformedFrame", message: `cannot clone message type ${m[0]}: ${String(e)}` }))
        }
      }
    }
  }

  protected pendingBytes(): number {
    return 0
  }

  protected shutdown(_graceful: boolean): Effect.Effect<void> {
    return Effect.sync(() => {
      this.runFlush()
      this.port.close()
    })
  }
}

/** Wrap one end of a `MessageChannel` as a `Connection` for the life of the current scope. */
export const fromPort = (port: MessagePort, label: string, limits: Limits): Effect.Effect<Connection, never, Scope.Scope> =>
  acquireReleaseBare(
    Effect.sync(() => new PortConnection(port, label, limits)),
    (c) => c.close("closed locally")
  )
