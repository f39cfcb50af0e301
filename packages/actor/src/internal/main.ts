/**
 * `Troupe.runMain`'s signal policy; in a one-file bundle started as its own child, the child
 * runtime instead (`selfHosted.ts`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Liveness from "@troupe/process/Liveness"
import { processChildPids } from "./runtime.js"
import { isSelfChild, registeredModule } from "./selfHosted.js"

/** A signal repeated within this many ms of the first counts as the same press (ms). */
export const repeatWindowMs = 150

export const runMain = <A, E>(effect: Effect.Effect<A, E>): void => {
  if (isSelfChild()) {
    // A one-file bundle started as its own child (see selfHosted.ts): serve the actor, not the program.
    void import("../backend/main.js").then((child) => child.main(registeredModule()))
    return
  }
  const fiber = Effect.runFork(effect)
  let signals = 0
  let firstAt = 0
  let interruptedBy: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice: from the terminal (to the whole foreground group) and relayed
    // by a wrapper such as tsx or pnpm. A repeat within `repeatWindowMs` is the same press.
    if (signals > 0 && performance.now() - firstAt < repeatWindowMs) return
    signals++
    if (signals === 1) {
      firstAt = performance.now()
      interruptedBy = sig
      Effect.runFork(Fiber.interrupt(fiber))
      return
    }
    for (const pid of processChildPids) Liveness.signalGroup(pid, "SIGKILL")
    process.exit(sig === "SIGTERM" ? 143 : 130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
      process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      process.exit(1)
    }
    process.exit(interruptedBy === "SIGTERM" ? 143 : interruptedBy !== undefined ? 130 : 0)
  })
}
