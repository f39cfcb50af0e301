// services.ts — an actor built from a Layer, and its logs: the `Stock` service is built in the
// actor's own process at boot (not here), and the actor's `Effect.logWarning` reaches this root as
// a log record with its level and annotations (printed below by a Logger of ours).
//
//   npx tsx examples/concepts/services.ts
import { Console, Effect, HashMap, Logger } from "effect"
import { Nursery, Troupe } from "@troupe/actor"
import { InventoryLive } from "./inventory.js"

const program = Effect.gen(function*() {
  const nursery = yield* Nursery.make()
  const inventory = yield* nursery.start(InventoryLive, { name: "inventory" })
  const builtIn = yield* inventory.builtInPid()
  yield* Console.log(`Stock built in pid ${builtIn}: the actor's own (actor pid ${inventory.actor.pid}; this root is pid ${process.pid})`)
  yield* Console.log(`take apple × 3 → ${yield* inventory.take({ sku: "apple", n: 3 })} left`)
  const error = yield* Effect.flip(inventory.take({ sku: "pear", n: 5 }))
  yield* Console.log(`take pear × 5 failed with ${error._tag}${error._tag === "OutOfStock" ? ` (${error.left} left)` : ""}`)
  // The actor's log record is a message of its own, not part of the call's answer: wait for it (≤ 5 s).
  yield* Effect.promise(() => sawLowStock).pipe(Effect.timeout("5 seconds"), Effect.ignore)
})

let lowStockSeen: () => void = () => {}
const sawLowStock = new Promise<void>((resolve) => (lowStockSeen = resolve))

/** Shows each record as the root receives it: level, message, annotations. */
const recordPrinter = Logger.make(({ annotations, logLevel, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (text === "low stock") lowStockSeen()
  const notes = HashMap.toEntries(annotations).filter(([k]) => k === "actor" || k === "sku" || k === "left").map(([k, v]) => `${k}=${v}`).join(" ")
  console.log(`log record: ${logLevel.label} "${text}" ${notes}`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(Logger.replace(Logger.defaultLogger, recordPrinter)),
  Effect.provide(Troupe.layer({ backend: "process" })),
  Troupe.runMain
)
