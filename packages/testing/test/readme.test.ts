// The README's example is packages/testing/test/readme/greeter.test.ts (which runs as part of the
// suite): the README must show that file, imports left out, line for line.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const here = import.meta.dirname

describe("packages/testing/README.md", () => {
  it("shows test/readme/greeter.test.ts line for line (imports left out)", () => {
    const readme = readFileSync(join(here, "..", "README.md"), "utf8")
    const block = /## Example\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    const lines = (text: string) => text.split("\n").filter((l) => !l.startsWith("import ") && l.trim() !== "")
    expect(lines(block!)).toEqual(lines(readFileSync(join(here, "readme", "greeter.test.ts"), "utf8")))
  })
})
