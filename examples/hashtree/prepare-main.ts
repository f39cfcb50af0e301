/**
 * `node prepare-main.ts <root>`: `prepareActors` (examples/hashtree/Prepare.ts) in a process of
 * its own; prints its `Prepared` as one JSON line.
 */
import * as Effect from "effect/Effect"
import { Troupe } from "@troupe/actor"
import { prepareActors } from "./Prepare.js"

const root = process.argv[2]
if (root === undefined) {
  process.stderr.write("usage: prepare-main.ts <root>\n")
  process.exit(2)
}
const prepared = await Effect.runPromise(prepareActors(root).pipe(Effect.provide(Troupe.layer({ backend: "process" }))))
process.stdout.write(`${JSON.stringify(prepared)}\n`)
