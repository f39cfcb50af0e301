/**
 * The `troupe` command line's conventions at the top level (the bundle run as a child process):
 * help at every level exits 0, `--version`, an unknown subcommand exits 2 with @effect/cli's
 * message and a hint, shell completions.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const bin = fileURLToPath(new URL("../bin/troupe.mjs", import.meta.url))
const troupe = (...args: Array<string>) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 20_000 })
const version = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version as string

describe("troupe", () => {
  it("--help at every level exits 0; the top level names the subcommands, exit codes and environment", () => {
    for (const args of [["--help"], ["-h"], ["exec", "--help"], ["ps", "--help"]]) {
      const r = troupe(...args)
      expect(r.status, args.join(" ")).toBe(0)
      expect(r.stdout).toMatch(/USAGE/)
    }
    const top = troupe("--help").stdout
    for (const word of ["exec", "ps", "Exit status", "TROUPE_LOG", "TROUPE_REGISTRAR", "--version"]) expect(top).toContain(word)
  }, 60_000)

  it("--version prints the package version", () => {
    const r = troupe("--version")
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(version)
  }, 40_000)

  it("an unknown subcommand says so and exits 2", () => {
    const r = troupe("frobnicate")
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/Invalid subcommand for troupe - use one of 'exec', 'ps'/)
    expect(r.stderr).toContain("see 'troupe --help'")
  }, 40_000)

  it("generates shell completions", () => {
    const r = troupe("--completions", "bash")
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/complete .*troupe/)
    expect(r.stdout).toContain("exec")
  }, 40_000)
})
