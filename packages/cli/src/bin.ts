/** The `troupe` executable: runs `main` on `process.argv` and sets the exit code. */
import { Effect } from "effect"
import { main } from "./main.js"

void Effect.runPromise(main(process.argv.slice(2))).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    process.stderr.write(`troupe: ${e instanceof Error ? e.stack : String(e)}\n`)
    process.exitCode = 125
  }
)
