/**
 * One session (`cid`) on a channel, either side: where its incoming messages land, and the
 * credit gate of its outgoing `Yield`s.
 *
 * The channel's dispatcher delivers messages synchronously (`deliver`), so a slow consumer never
 * blocks the connection: what can pile up is bounded by the window this side granted.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import type { TransportClosed } from "../Errors.js"
import type { Aid, ErrorMsg, Message, SessionKind } from "../Protocol.js"

/** How a session ended, seen from this side. */
export type Final =
  | { readonly _tag: "Return"; readonly value: unknown }
  | { readonly _tag: "Error"; readonly msg: ErrorMsg }
  | { readonly _tag: "CancelAck" }
  | { readonly _tag: "Closed"; readonly error: TransportClosed }

/**
 * Credit-based flow control of one direction (the sender's side). The receiver grants a window
 * (`Credit{amount}`); each `take` consumes one; a sender with no credit suspends.
 * `amount: -1` lifts the limit (the documented opt-out).
 */
export class CreditGate<E> {
  private credit = 0
  private unlimited = false
  private closedWith: E | undefined
  private waiter: Deferred.Deferred<void> | undefined

  grant(amount: number): void {
    if (amount < 0) this.unlimited = true
    else this.credit += amount
    this.wake()
  }

  close(error: E): void {
    if (this.closedWith === undefined) this.closedWith = error
    this.wake()
  }

  get available(): number {
    return this.unlimited ? Infinity : this.credit
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    if (w) Deferred.unsafeDone(w, Exit.void)
  }

  readonly take: Effect.Effect<void, E> = Effect.suspend(() => {
    if (this.closedWith !== undefined) return Effect.fail(this.closedWith)
    if (this.unlimited) return Effect.void
    if (this.credit > 0) {
      this.credit--
      return Effect.void
    }
    const w = this.waiter ?? (this.waiter = Deferred.unsafeMake<void>(undefined as any))
    return Effect.zipRight(Deferred.await(w), this.take)
  })
}

/** Stream end marker carried as the inbound mailbox's failure. */
export type InboundEnd = { readonly _tag: "Error"; readonly msg: ErrorMsg } | { readonly _tag: "Closed"; readonly error: TransportClosed }

export class Session {
  /** StartAck received (client side). */
  readonly acked = Deferred.unsafeMake<void>(undefined as any)
  /** First `Started` value (encoded), or the final when the session ended before it. */
  readonly started = Deferred.unsafeMake<unknown, Final>(undefined as any)
  /** The session's end. */
  readonly final = Deferred.unsafeMake<Final>(undefined as any)
  /** Incoming `Yield` values (encoded); ends at `Stop`/`Return`, fails on `Error`/close. */
  readonly inbound: Mailbox.Mailbox<unknown, InboundEnd> = Effect.runSync(Mailbox.make<unknown, InboundEnd>())
  /** Credit for our outgoing `Yield`s. */
  readonly gate = new CreditGate<unknown>()
  /** Server side: the handler fiber, and who asked to cancel it. */
  handler: Fiber.RuntimeFiber<unknown, unknown> | undefined
  cancelledBy: { readonly canceller: string; readonly byOpener: boolean } | undefined

  constructor(
    readonly cid: number,
    readonly endpoint: string,
    readonly kind: SessionKind,
    readonly side: "opener" | "server",
    readonly remote: Aid
  ) {}

  /** Route one incoming message (called by the dispatcher, synchronously). */
  deliver(msg: Message): void {
    switch (msg._tag) {
      case "StartAck":
        Deferred.unsafeDone(this.acked, Exit.void)
        return
      case "Started":
        Deferred.unsafeDone(this.started, Exit.succeed(msg.value))
        return
      case "Yield":
        this.inbound.unsafeOffer(msg.value)
        return
      case "Stop":
        this.inbound.unsafeDone(Exit.void)
        return
      case "Credit":
        this.gate.grant(msg.amount)
        return
      case "Return":
        this.finish({ _tag: "Return", value: msg.value })
        return
      case "Error":
        this.finish({ _tag: "Error", msg })
        return
      case "CancelAck":
        this.finish({ _tag: "CancelAck" })
        return
      default:
        return
    }
  }

  /** The session ended (final message, or the connection closed). */
  finish(final: Final): void {
    Deferred.unsafeDone(this.acked, Exit.void)
    Deferred.unsafeDone(this.started, Exit.fail(final))
    Deferred.unsafeDone(this.final, Exit.succeed(final))
    if (final._tag === "Error" || final._tag === "Closed") this.inbound.unsafeDone(Exit.fail(final))
    else this.inbound.unsafeDone(Exit.void)
    this.gate.close(final)
  }
}
