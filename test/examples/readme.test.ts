// The README's "An actor in 20 lines" is examples/readme/{greeter,main}.ts: the README must show
// those files (imports left out) line for line, and the program must run and print what it says.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { descendants } from "../../packages/testing/src/ProcessGuard.js"

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
const body = (file: string) =>
  readFileSync(join(repoRoot, "examples", "readme", file), "utf8").split("\n").filter((l) => !l.startsWith("import ") && l.trim() !== "")

describe("README example", () => {
  it("is the code in examples/readme, line for line", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8")
    const block = /## An actor in 20 lines\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    const shown = block!.split("\n").filter((l) => l.trim() !== "")
    expect(shown).toEqual([...body("greeter.ts"), ...body("main.ts")])
  })

  it("runs: greets, streams 1..3, exits 0, leaves no process", () => {
    const before = descendants()
    const r = spawnSync(process.execPath, ["--import", "tsx", "examples/readme/main.ts"], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 40_000
    })
    expect(r.stderr).not.toMatch(/Error/)
    expect(r.stdout).toBe("hello ada\n1\n2\n3\n")
    expect(r.status).toBe(0)
    const left = [...descendants()].filter((p) => !before.has(p))
    expect(left).toEqual([])
  }, 50_000)
})
