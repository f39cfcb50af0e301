/**
 * Loader for the optional Linux N-API addon (native/troupe_native.c, built at install time
 * by scripts/build-native.mjs). When it is unavailable, `native` is undefined and
 * `nativeLoadError` says why; callers fall back to polling /proc.
 *
 * `TROUPE_DISABLE_NATIVE=1` forces the fallback (tests use it to exercise that path).
 * The path is resolved relative to this file, so a bundle that moves this module elsewhere
 * simply reports "not built" and falls back.
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { startupSnapshot } from "node:v8"

export interface PidfdWatch {
  close(): void
  ref(): void
  unref(): void
}

export interface WaitResult {
  pid: number
  code: number | null
  signal: number | null
}

/** Syscall failures throw an `Error` with `.code` (errno name, e.g. "ESRCH"), `.errno` (the
 * positive number) and `.syscall`. Wrong argument types throw TypeError, non-int32 numbers
 * RangeError. */
export interface NativeBinding {
  /** pidfd_open(2) (Linux 5.3). Returns a new fd (O_CLOEXEC). Throws an Error whose `.code` is the errno name ("ESRCH", "ENOSYS", "EPERM", ...) and `.errno` the number. */
  pidfdOpen(pid: number): number
  /** pidfd_send_signal(2) (Linux 5.1), flags 0, no siginfo. Throws like pidfdOpen (ESRCH when the process is gone). */
  pidfdSendSignal(pidfd: number, signal: number): void
  /** Event-driven exit watch: a uv_poll_t (UV_READABLE) on Node's own loop over the pidfd. Fires `onExit` once
   * when the process terminates (a zombie counts), then closes itself. close() is idempotent and safe from the
   * callback; ref()/unref() map to uv_ref/uv_unref. Does NOT close the pidfd. Only one watch per pidfd at a
   * time (libuv: a second one throws EEXIST). Sets O_NONBLOCK on the pidfd. */
  pidfdWatch(pidfd: number, onExit: () => void): PidfdWatch
  /** close(2). */
  closeFd(fd: number): void
  /** waitpid(pid, WNOHANG) on ONE specific pid (pid <= 0 throws RangeError). null while it is still running; otherwise its status (code for a normal exit, signal number when killed). Throws ECHILD if not our child. */
  waitPidNoHang(pid: number): WaitResult | null
  /** prctl(PR_SET_CHILD_SUBREAPER, on) / prctl(PR_GET_CHILD_SUBREAPER). */
  setChildSubreaper(on: boolean): void
  isChildSubreaper(): boolean
  /** prctl(PR_SET_PDEATHSIG, signal) for the calling thread's process; 0 clears it. */
  setPdeathsig(signal: number): void
  /** getppid(2). */
  getppid(): number
  /** pipe2(O_CLOEXEC): [readFd, writeFd]. */
  pipe(): [number, number]
  /**
   * Start (once per process) a native thread that waits for `parentPid` to exit (pidfd + poll;
   * getppid(2) polling without pidfd), then `graceMs` more, and then SIGKILLs every descendant of
   * this process and the process itself: the parent-death bound holds when JS cannot run.
   */
  armParentWatchdog(parentPid: number, graceMs: number): void
  /**
   * posix_spawn(3) of `path` (no PATH search) with `argv` and `envp` (`NAME=value`), in `cwd`
   * (null: ours), in its own session and process group, every signal at its default and none
   * blocked; fds 0, 1, 2 dup2'd from the fds given (-1: /dev/null). Returns once the child has
   * exec'd: its pid. Throws with exec's errno (`ENOENT`, `EACCES`, …). Absent from an addon
   * built before it (the caller then spawns through Node).
   */
  spawn?(path: string, argv: ReadonlyArray<string>, envp: ReadonlyArray<string>, cwd: string | null, stdinFd: number, stdoutFd: number, stderrFd: number): number
  /**
   * stat(2) of each path (symlinks followed): its `st_mtim` as `[tv_sec, tv_nsec]` at `2i`,
   * `2i + 1`, or `[NaN, NaN]` when the stat failed. `mtimeMs` as `fs.statSync` gives it is
   * `sec * 1e3 + nsec / 1e6`. One call for many files (~3.5 µs a file here, ~25 µs through
   * `fs.statSync`). Absent from an addon built before it.
   */
  mtimes?(paths: ReadonlyArray<string>): Float64Array
}

const methods = [
  "pidfdOpen",
  "pidfdSendSignal",
  "pidfdWatch",
  "closeFd",
  "waitPidNoHang",
  "setChildSubreaper",
  "isChildSubreaper",
  "setPdeathsig",
  "getppid",
  "pipe",
  "armParentWatchdog"
] as const satisfies ReadonlyArray<keyof NativeBinding>

/**
 * Absolute path of the compiled addon: beside this module in the package, or — when this
 * module was bundled elsewhere (the `troupe` CLI, a bundled actor entry) — found through the
 * `@troupe/process` package the bundle's location resolves; `TROUPE_NATIVE_PATH` overrides.
 */
const findAddon = (): string => {
  const override = process.env["TROUPE_NATIVE_PATH"]
  if (override !== undefined && override !== "") return override
  const local = fileURLToPath(new URL("../../native/build/Release/troupe_native.node", import.meta.url))
  if (existsSync(local)) return local
  try {
    const manifest = createRequire(import.meta.url).resolve("@troupe/process/package.json")
    return join(dirname(manifest), "native", "build", "Release", "troupe_native.node")
  } catch {
    return local
  }
}
export let nativeAddonPath: string = findAddon()

const load = (): { native?: NativeBinding; error?: string } => {
  if (process.env["TROUPE_DISABLE_NATIVE"] === "1") return { error: "disabled by TROUPE_DISABLE_NATIVE=1" }
  if (process.platform !== "linux") return { error: `platform ${process.platform} is not Linux` }
  if (!existsSync(nativeAddonPath)) {
    return { error: `addon not built: ${nativeAddonPath} is missing (run: node packages/process/scripts/build-native.mjs)` }
  }
  let mod: Partial<NativeBinding>
  try {
    mod = createRequire(import.meta.url)(nativeAddonPath) as Partial<NativeBinding>
  } catch (e) {
    return { error: `failed to load ${nativeAddonPath}: ${e instanceof Error ? e.message : String(e)}` }
  }
  const missing = methods.filter((m) => typeof mod[m] !== "function")
  if (missing.length > 0) return { error: `stale addon ${nativeAddonPath}: missing ${missing.join(", ")} (rebuild it)` }
  return { native: mod as NativeBinding }
}

/**
 * The addon's preload object for Node children, `troupe_prefault.node` (native/troupe_prefault.c:
 * it has the kernel populate each anonymous mapping of 64 KiB to 4 MiB at once instead of page by
 * page; `LD_PRELOAD` it), beside the addon: its path when it was built, undefined otherwise (not
 * Linux, `TROUPE_DISABLE_NATIVE=1`, not built). Looked up once per addon path.
 */
export const prefaultPath = (): string | undefined => {
  if (process.platform !== "linux" || process.env["TROUPE_DISABLE_NATIVE"] === "1") return undefined
  if (prefaultFor !== nativeAddonPath) {
    prefaultFor = nativeAddonPath
    const path = join(dirname(nativeAddonPath), "troupe_prefault.node")
    prefaultFound = existsSync(path) ? path : undefined
  }
  return prefaultFound
}
let prefaultFor: string | undefined
let prefaultFound: string | undefined

/**
 * This process is building a V8 startup snapshot (`node --build-snapshot`: the process backend's
 * child snapshots). A snapshot cannot hold an addon: it is loaded when the snapshot is
 * deserialized instead, in the process that runs it (its environment, its files). Node 20's
 * `isBuildingSnapshot` answers 1, not true.
 */
export const buildingSnapshot: boolean = Boolean(startupSnapshot?.isBuildingSnapshot?.())
const loaded = buildingSnapshot ? { error: "not loaded yet (a V8 startup snapshot is being built)" } : load()

/** The addon, or undefined when it could not be loaded (see `nativeLoadError`). */
export let native: NativeBinding | undefined = loaded.native
/** Why `native` is undefined (not Linux, not built, dlopen error, disabled); undefined when loaded. */
export let nativeLoadError: string | undefined = loaded.error

if (buildingSnapshot) {
  startupSnapshot.addDeserializeCallback(() => {
    nativeAddonPath = findAddon()
    const l = load()
    native = l.native
    nativeLoadError = l.error
  })
}
