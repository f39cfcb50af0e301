/**
 * What this process can do natively: pidfd exit waits (pidfd_open(2) + a uv_poll on Node's own
 * loop, Linux ≥ 5.3), or the fallback that polls `/proc/<pid>/stat` with backoff.
 *
 * The mode is fixed at load time (in a V8 startup snapshot: when it is deserialized); `logCapabilities`
 * logs it once per process.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { startupSnapshot } from "node:v8"
import { buildingSnapshot, native, nativeLoadError, type NativeBinding, prefaultPath } from "./internal/native.js"

export type { NativeBinding }
export { native, prefaultPath }

export interface Capabilities {
  /** `"pidfd"`: event-driven exit waits and race-free signals; `"proc-poll"`: the fallback. */
  readonly mode: "pidfd" | "proc-poll"
  readonly pidfd: boolean
  /** PR_SET_CHILD_SUBREAPER / PR_SET_PDEATHSIG are available (addon loaded on Linux). */
  readonly prctl: boolean
  /** Real pipe(2) stdio instead of Node's socketpair. */
  readonly pipes: boolean
  /** Why the addon is not in use, when it is not. */
  readonly reason: string | undefined
}

const probePidfd = (): boolean => {
  if (native === undefined) return false
  try {
    native.closeFd(native.pidfdOpen(process.pid))
    return true
  } catch {
    return false
  }
}

const probe = (): Capabilities => {
  const pidfd = probePidfd()
  return {
    mode: pidfd ? "pidfd" : "proc-poll",
    pidfd,
    prctl: native !== undefined,
    pipes: native !== undefined,
    reason: native === undefined ? nativeLoadError : pidfd ? undefined : "pidfd_open(2) is not available (ENOSYS/EPERM)"
  }
}

export const capabilities: Capabilities = probe()

// In a V8 startup snapshot the addon loads when the snapshot is deserialized (internal/native.ts,
// whose callback was registered first): probe again then.
if (buildingSnapshot) {
  startupSnapshot.addDeserializeCallback(() => Object.assign(capabilities, probe()))
}

let logged = false

/** Logs the active mode once per process (a warning in fallback mode). */
export const logCapabilities: Effect.Effect<void> = Effect.suspend(() => {
  if (logged) return Effect.void
  logged = true
  return capabilities.pidfd
    ? Effect.logDebug("troupe: exit waits use pidfd").pipe(Effect.annotateLogs("mode", capabilities.mode))
    : Effect.logWarning(`troupe: native addon not in use (${capabilities.reason}); exit waits poll /proc`).pipe(
      Effect.annotateLogs("mode", capabilities.mode)
    )
})
