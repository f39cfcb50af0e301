/**
 * What every carrier shares: holding messages until a receiver attaches, the closed state, and
 * the backpressure waiters of `send`. A carrier supplies the queueing (`enqueue`), how many bytes
 * wait to be written (`pendingBytes`) and how to shut its channel (`shutdown`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { ProtocolError, TransportClosed } from "../Errors.js"
import type { Message } from "../Protocol.js"
import type { Connection, ConnectionStats, Limits, Receiver, WriteError } from "../Transport.js"

export abstract class ConnectionCore implements Connection {
  private receiver: Receiver | undefined
  private held: Array<Message> = []
  private closeReason: string | undefined
  private readonly closedD = Deferred.unsafeMake<string>(undefined as any)
  private drainWaiters: Array<(e: TransportClosed | undefined) => void> = []

  constructor(readonly label: string, protected readonly limits: Limits) {}

  private flushScheduled = false

  /** Queue a message for the next flush (calling `scheduleFlush`); or why not. */
  protected abstract enqueue(msg: Message): WriteError | undefined
  /** Hand everything queued to the carrier (one write / one postMessage). */
  protected abstract flushQueued(): void

  /**
   * Flush once, at the next microtask: whatever is written until then goes out together. Not at
   * the end of the tick (`process.nextTick`): Effect runs fibers as a chain of microtasks, and a
   * reply written while another fiber computes waited for that whole chain (an actor answering
   * one task while it hashes the next one answered both at once; `basics.test.ts`, "a reply goes
   * out when its call ends"). The unbatched stream gained too (0.71x to ~0.9x raw).
   */
  protected scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(this.runFlush)
  }

  /** Flush now (and cancel the scheduled one's work: it will find nothing queued). */
  protected readonly runFlush = (): void => {
    this.flushScheduled = false
    this.flushQueued()
  }
  /** Bytes accepted by `write` and not yet handed to the kernel. */
  protected abstract pendingBytes(): number
  /** Stop the carrier: `graceful` flushes first (bounded by `flushMs`). */
  protected abstract shutdown(graceful: boolean): Effect.Effect<void>

  readonly stats: ConnectionStats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 }

  readonly write = (msg: Message): WriteError | undefined => {
    if (this.closeReason !== undefined) return new TransportClosed({ peer: this.label, reason: this.closeReason })
    const e = this.enqueue(msg)
    if (e === undefined) this.stats.messagesOut++
    return e
  }

  readonly send = (msg: Message): Effect.Effect<void, WriteError> =>
    Effect.suspend(() => {
      const e = this.write(msg)
      if (e !== undefined) return Effect.fail(e)
      return this.afterWrite()
    })

  readonly afterWrite = (): Effect.Effect<void, TransportClosed> =>
    this.pendingBytes() <= this.limits.maxQueuedBytes ? Effect.void : this.awaitDrain

  /** Suspends until what waits to be written is back under `maxQueuedBytes` (or the connection closed). */
  private readonly awaitDrain: Effect.Effect<void, TransportClosed> = Effect.async<void, TransportClosed>((resume) => {
    const waiter = (err: TransportClosed | undefined) => resume(err === undefined ? Effect.void : Effect.fail(err))
    this.drainWaiters.push(waiter)
    return Effect.sync(() => {
      this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter)
    })
  })

  /** Called by the carrier when bytes were handed on: wake senders once below the bound. */
  protected drained(): void {
    if (this.drainWaiters.length === 0 || this.pendingBytes() > this.limits.maxQueuedBytes) return
    const ws = this.drainWaiters
    this.drainWaiters = []
    for (const w of ws) w(undefined)
  }

  readonly attach = (receiver: Receiver | undefined): void => {
    this.receiver = receiver
    if (receiver === undefined) return
    while (this.held.length > 0 && this.receiver === receiver) receiver.onMessage(this.held.shift()!, 0)
    if (this.closeReason !== undefined && this.receiver === receiver) receiver.onClose(this.closeReason)
  }

  /** Hand one incoming message on (or hold it while nobody is attached); `frameBytes`: its size on the wire, 0 when not measured. */
  protected deliver(msg: Message, frameBytes = 0): void {
    this.stats.messagesIn++
    const r = this.receiver
    if (r !== undefined) {
      try {
        return r.onMessage(msg, frameBytes)
      } catch (e) {
        // A bug met while handling a peer's message: drop that connection, keep the actor.
        let why: string
        try {
          why = String(e)
        } catch {
          why = "(unprintable)"
        }
        Effect.runFork(Effect.logError(`${this.label}: handling a message threw (${why}); dropping the connection`))
        return this.violation(new ProtocolError({ reason: "UnexpectedMessage", message: why }))
      }
    }
    if (this.held.length >= this.limits.maxUnattachedMessages) {
      this.markClosed(`${this.limits.maxUnattachedMessages} messages arrived before the handshake completed`)
      Effect.runFork(this.shutdown(false))
      return
    }
    this.held.push(msg)
  }

  protected undeliverable(msg: Message, error: ProtocolError): void {
    this.receiver?.onUndeliverable?.(msg, error)
  }

  /** Record the end (first reason wins) and tell the receiver and waiters. */
  protected markClosed(reason: string): void {
    if (this.closeReason !== undefined) return
    this.closeReason = reason
    Deferred.unsafeDone(this.closedD, Exit.succeed(reason))
    const ws = this.drainWaiters
    this.drainWaiters = []
    if (ws.length > 0) {
      const err = new TransportClosed({ peer: this.label, reason })
      for (const w of ws) w(err)
    }
    this.receiver?.onClose(reason)
  }

  /** A protocol violation: drop the connection at once (messages before it were delivered). */
  protected violation(e: ProtocolError): void {
    this.markClosed(`${e.reason}: ${e.message}`)
    Effect.runFork(this.shutdown(false))
  }

  readonly closed: Effect.Effect<string> = Deferred.await(this.closedD)
  readonly isClosed = (): boolean => this.closeReason !== undefined

  readonly close = (reason: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (this.closeReason !== undefined) return Effect.void
      this.markClosed(reason)
      return this.shutdown(true)
    })
}

