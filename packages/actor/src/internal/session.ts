/**
 * The state of one session (`cid`) on a channel, either side: where its incoming messages land
 * (`deliver`, called synchronously by the channel's receiver), how it ended (`Final`), the
 * elements received and not yet consumed (`Inbound`), and the credit of the elements it sends
 * (`CreditGate`). Plain objects with callbacks: no fiber, `Deferred` or `Mailbox` per session.
 *
 * What can pile up is bounded by the window this side granted (plus one chunk).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Fiber from "effect/Fiber"
import type { TransportClosed } from "../Errors.js"
import { type Aid, type ErrorInfo, type Message, MsgType, type SessionKind } from "../Protocol.js"

/** How a session ended, seen from this side. */
export type Final =
  | { readonly _tag: "Return"; readonly value: unknown }
  | { readonly _tag: "Error"; readonly errors: ReadonlyArray<ErrorInfo> }
  | { readonly _tag: "CancelAck" }
  | { readonly _tag: "Closed"; readonly error: TransportClosed }
  /** This side failed the session (a message it could not deliver); `error` is already typed. */
  | { readonly _tag: "Failed"; readonly error: unknown }

/** Past this many measured elements, the totals are halved: the average follows recent sizes. */
const MEASURE_SPAN = 4096

/**
 * Elements received on one stream direction and not consumed yet, then how the direction ended;
 * and the average size of the elements that arrived in measured frames (for the default window).
 */
export class Inbound {
  private buf: Array<unknown> = []
  /** `null`: the sender's `Stop` (or a `Return`); a `Final`: the session failed. */
  private end: Final | null | undefined
  private waiter: (() => void) | undefined
  private measuredBytes = 0
  private measuredElements = 0

  push(values: ReadonlyArray<unknown>, frameBytes = 0): void {
    if (this.end !== undefined) return
    if (frameBytes > 0 && values.length > 0) {
      this.measuredBytes += frameBytes
      this.measuredElements += values.length
      if (this.measuredElements > MEASURE_SPAN) {
        this.measuredBytes /= 2
        this.measuredElements /= 2
      }
    }
    if (this.buf.length === 0) this.buf = values.slice()
    else for (const v of values) this.buf.push(v)
    this.wake()
  }

  /** Average bytes per element of the measured frames so far (frame headers included), or undefined. */
  bytesPerElement(): number | undefined {
    return this.measuredElements === 0 ? undefined : this.measuredBytes / this.measuredElements
  }

  /** The direction ended: normally (`null`) or with a failure. The first end wins. */
  close(end: Final | null): void {
    if (this.end !== undefined) return
    this.end = end
    this.wake()
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** Everything buffered (≥ 1 element); `None` at a normal end; `Some(final)` when it failed. */
  readonly pull: Effect.Effect<ReadonlyArray<unknown>, Option.Option<Final>> = Effect.suspend(() => {
    if (this.buf.length > 0) {
      const out = this.buf
      this.buf = []
      return Effect.succeed(out)
    }
    if (this.end !== undefined) return Effect.fail(this.end === null ? Option.none() : Option.some(this.end))
    return Effect.async<void>((resume) => {
      this.waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        this.waiter = undefined
      })
    }).pipe(Effect.zipRight(this.pull))
  })
}

/**
 * Credit of one sending direction. The receiver grants elements (`Credit{n}`); a sender may send
 * while its credit is positive — a whole chunk at once, so the credit can dip below zero by at
 * most one chunk — and suspends otherwise. `-1` lifts the limit (the documented opt-out).
 */
export class CreditGate {
  private credit = 0
  private unlimited = false
  private closedWith: Final | undefined
  private waiter: (() => void) | undefined

  grant(amount: number): void {
    if (amount < 0) this.unlimited = true
    else this.credit += amount
    this.wake()
  }

  debit(n: number): void {
    if (!this.unlimited) this.credit -= n
  }

  close(final: Final): void {
    if (this.closedWith === undefined) this.closedWith = final
    this.wake()
  }

  get open(): boolean {
    return this.closedWith === undefined && (this.unlimited || this.credit > 0)
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  /** Succeeds once sending is allowed; fails with the session's end if it ended first. */
  readonly ready: Effect.Effect<void, Final> = Effect.suspend(() => {
    if (this.closedWith !== undefined) return Effect.fail(this.closedWith)
    if (this.unlimited || this.credit > 0) return Effect.void
    return Effect.async<void>((resume) => {
      this.waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        this.waiter = undefined
      })
    }).pipe(Effect.zipRight(this.ready))
  })
}

/** What the end of a session means for its inbound direction: a normal end, or a failure. */
const inboundEnd = (final: Final): Final | null => (final._tag === "Return" || final._tag === "CancelAck" ? null : final)

export class Session {
  /** How it ended (set once). */
  final: Final | undefined
  /** Who waits for the final: one waiter (a call's), or several. */
  private finalWaiter: ((final: Final) => void) | undefined
  private finalWaiters: Array<(final: Final) => void> | undefined
  /** Contexts, opener side: the `Started` value (encoded). */
  startedValue: { readonly value: unknown } | undefined
  private startedWaiter: (() => void) | undefined
  // A call never streams: its inbound buffer and credit gate are made on first use.
  private _inbound: Inbound | undefined
  private _gate: CreditGate | undefined
  /** Server side: the handler fiber, and who asked to cancel it. */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  cancelledBy: { readonly canceller: string; readonly byOpener: boolean } | undefined

  constructor(
    readonly cid: number,
    readonly endpoint: string,
    readonly kind: SessionKind,
    readonly side: "opener" | "server",
    readonly remote: Aid
  ) {}

  /** Elements received (server streams at the opener; context streams on both sides). */
  get inbound(): Inbound {
    if (this._inbound === undefined) {
      this._inbound = new Inbound()
      if (this.final !== undefined) this._inbound.close(inboundEnd(this.final))
    }
    return this._inbound
  }

  /** Credit for the elements this side sends. */
  get gate(): CreditGate {
    if (this._gate === undefined) {
      this._gate = new CreditGate()
      if (this.final !== undefined) this._gate.close(this.final)
    }
    return this._gate
  }

  /** Route one incoming session message (called by the channel, synchronously); `frameBytes`: its size, 0 if not measured. */
  deliver(msg: Message, frameBytes = 0): void {
    switch (msg[0]) {
      case MsgType.Started:
        if (this.startedValue === undefined) {
          this.startedValue = { value: msg[2] }
          this.wakeStarted()
        }
        return
      case MsgType.Yield:
        this.inbound.push(msg[2], frameBytes)
        return
      case MsgType.Stop:
        this.inbound.close(null)
        return
      case MsgType.Credit:
        this.gate.grant(msg[2])
        return
      case MsgType.Return:
        return this.finish({ _tag: "Return", value: msg[2] })
      case MsgType.Error:
        return this.finish({ _tag: "Error", errors: msg[2] })
      case MsgType.CancelAck:
        return this.finish({ _tag: "CancelAck" })
    }
  }

  /** The session ended (final message, the connection closed, or a local failure). First wins. */
  finish(final: Final): void {
    if (this.final !== undefined) return
    this.final = final
    this._inbound?.close(inboundEnd(final))
    this._gate?.close(final)
    this.wakeStarted()
    const w = this.finalWaiter
    const ws = this.finalWaiters
    this.finalWaiter = undefined
    this.finalWaiters = undefined
    w?.(final)
    if (ws !== undefined) for (const f of ws) f(final)
  }

  /** Call `f` with the final (now, if known). */
  onFinal(f: (final: Final) => void): void {
    if (this.final !== undefined) return f(this.final)
    if (this.finalWaiter === undefined) this.finalWaiter = f
    else (this.finalWaiters ??= []).push(f)
  }

  /** Stop waiting with `f` (the waiter was interrupted). */
  offFinal(f: (final: Final) => void): void {
    if (this.finalWaiter === f) this.finalWaiter = undefined
    else if (this.finalWaiters !== undefined) this.finalWaiters = this.finalWaiters.filter((w) => w !== f)
  }

  /** The session's end. */
  get awaitFinal(): Effect.Effect<Final> {
    return Effect.async<Final>((resume) => {
      const f = (final: Final) => resume(Effect.succeed(final))
      this.onFinal(f)
      return Effect.sync(() => this.offFinal(f))
    })
  }

  private wakeStarted(): void {
    const w = this.startedWaiter
    this.startedWaiter = undefined
    w?.()
  }

  /** Contexts: the `Started` value (encoded), or the final when the session ended before it. */
  get awaitStarted(): Effect.Effect<unknown, Final> {
    return Effect.suspend(() => {
      if (this.startedValue !== undefined) return Effect.succeed(this.startedValue.value)
      if (this.final !== undefined) return Effect.fail(this.final)
      return Effect.async<void>((resume) => {
        this.startedWaiter = () => resume(Effect.void)
        return Effect.sync(() => {
          this.startedWaiter = undefined
        })
      }).pipe(Effect.zipRight(this.awaitStarted))
    })
  }
}
