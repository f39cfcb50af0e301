import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { capabilities } from "../src/Native.js"

const fixture = fileURLToPath(new URL("./subreaper/fixture.ts", import.meta.url))

describe.skipIf(!capabilities.prctl)("Subreaper", () => {
  it("adopts a setsid escapee, kills and reaps it at scope close, leaves Node's children alone (unref'd ones too)", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", fixture], { encoding: "utf8", timeout: 20_000 })
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!)
    expect(out.error).toBeUndefined()
    expect(out.adopted).toContain(out.escapee)
    expect(out.ownStatus).toBe(5)
    expect(out.escapeeAfter).toBe("gone") // killed and reaped by us, not a zombie
    // An unref'd child of ours: never adopted, never signalled, its own exit status delivered.
    expect(out.quietAdopted).toBe(false)
    expect(out.quietExit).toEqual({ code: 7, signal: null })
  }, 25_000)
})
