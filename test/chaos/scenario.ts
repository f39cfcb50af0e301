// A chaos run, as data: the tree to build (depth ≤ 3, breadth ≤ 4, at most `maxActors`), its
// backend and transport, the traffic and the faults (kind, victim, time). Generated from a seed
// with fast-check (effect's pinned copy, `effect/FastCheck`), so a seed replays the same run.
import { FastCheck as fc } from "effect"
import type { TreeNode } from "./fixtures/chaos-actor.js"

export type Backend = "process" | "worker"
export type Transport = "uds" | "tcp"

/**
 * - `sigkill`: SIGKILL an actor's process (process backend)
 * - `sigstop`: SIGSTOP an actor (process backend); the run then ends, and its parent's cancel
 *   must get past an actor that cannot answer
 * - `throw` / `defect`: a handler that throws / dies
 * - `busy`: a synchronous loop (a blocked event loop) in a handler, then the run ends
 * - `cancel`: a call interrupted by its caller (Cancel → CancelAck)
 * - `rootCancel`: the root interrupts its whole nursery at a random time
 * - `slowReader`: a stream read slowly by the root (credit backpressure)
 * - `closedSocket`: a stranger connects to the actor, sends half a frame and closes
 * - `malformed`: a stranger sends a frame that is not msgpack
 * - `stubborn`: the actor holds a child process that ignores SIGTERM
 * - `escapee`: the actor leaves a setsid'd grandchild holding its stdout (process backend)
 */
export type FaultKind =
  | "sigkill"
  | "sigstop"
  | "throw"
  | "defect"
  | "busy"
  | "cancel"
  | "rootCancel"
  | "slowReader"
  | "closedSocket"
  | "malformed"
  | "stubborn"
  | "escapee"

export const processOnly: ReadonlySet<FaultKind> = new Set(["sigkill", "sigstop", "escapee"])
/** Faults after which the root's nursery must fail, naming the fault. */
export const failing: ReadonlySet<FaultKind> = new Set(["sigkill", "throw", "defect"])
/** Faults after which an actor (and what it relays for its subtree) may stop answering. */
export const disabling: ReadonlySet<FaultKind> = new Set(["sigkill", "sigstop", "busy"])

export interface Fault {
  readonly kind: FaultKind
  /** Index into the tree's members (pre-order); ignored by `rootCancel`. */
  readonly victim: number
  /** Delay after the tree stands, ms. */
  readonly atMs: number
}

export type TrafficKind = "emit" | "stream" | "echo" | "ping"
export interface Traffic {
  readonly kind: TrafficKind
  readonly target: number
  readonly atMs: number
  /** Lines, elements or messages. */
  readonly n: number
}

export interface Scenario {
  readonly backend: Backend
  readonly transport: Transport
  /** The root's children. */
  readonly tree: ReadonlyArray<TreeNode>
  readonly traffic: ReadonlyArray<Traffic>
  readonly faults: ReadonlyArray<Fault>
}

export const maxActors = 5

interface Shape {
  readonly children: ReadonlyArray<Shape>
}

const shapeArb: fc.Arbitrary<Shape> = fc.letrec<{ node: Shape; level2: Shape; level3: Shape }>((tie) => ({
  node: fc.record({ children: fc.array(tie("level2"), { maxLength: 3 }) }),
  level2: fc.record({ children: fc.array(tie("level3"), { maxLength: 2 }) }),
  level3: fc.constant({ children: [] })
})).node

/** Names by position ("a", "a1", "a12"), pruned to `maxActors` in pre-order. */
const nameTree = (shapes: ReadonlyArray<Shape>): Array<TreeNode> => {
  let budget = maxActors
  const walk = (s: ReadonlyArray<Shape>, prefix: string): Array<TreeNode> => {
    const out: Array<TreeNode> = []
    s.forEach((shape, i) => {
      if (budget <= 0) return
      budget--
      const name = prefix === "" ? String.fromCharCode(97 + i) : `${prefix}${i}`
      out.push({ name, children: walk(shape.children, name) })
    })
    return out
  }
  return walk(shapes, "")
}

/** The members in pre-order, each with its ancestors' names (the root excluded). */
export const members = (tree: ReadonlyArray<TreeNode>): Array<{ name: string; ancestors: Array<string>; depth: number }> => {
  const out: Array<{ name: string; ancestors: Array<string>; depth: number }> = []
  const walk = (nodes: ReadonlyArray<TreeNode>, ancestors: Array<string>) => {
    for (const n of nodes) {
      out.push({ name: n.name, ancestors, depth: ancestors.length + 1 })
      walk(n.children, [...ancestors, n.name])
    }
  }
  walk(tree, [])
  return out
}

export const depthOf = (tree: ReadonlyArray<TreeNode>): number =>
  tree.length === 0 ? 0 : 1 + Math.max(...tree.map((n) => depthOf(n.children)))

const faultKinds: ReadonlyArray<FaultKind> = [
  "sigkill",
  "sigstop",
  "throw",
  "defect",
  "busy",
  "cancel",
  "rootCancel",
  "slowReader",
  "closedSocket",
  "malformed",
  "stubborn",
  "escapee"
]

export const scenarioArb = (options: { readonly backends?: ReadonlyArray<Backend> } = {}): fc.Arbitrary<Scenario> =>
  fc.record({
    backend: fc.constantFrom(...(options.backends ?? ["process", "process", "worker"] as const)),
    transport: fc.constantFrom<Transport>("uds", "tcp"),
    shapes: fc.array(shapeArb, { minLength: 1, maxLength: 4 }),
    traffic: fc.array(
      fc.record({
        kind: fc.constantFrom<TrafficKind>("emit", "emit", "stream", "echo", "ping"),
        target: fc.nat(),
        atMs: fc.integer({ min: 0, max: 300 }),
        n: fc.integer({ min: 1, max: 30 })
      }),
      { minLength: 1, maxLength: 8 }
    ),
    faults: fc.array(
      fc.record({ kind: fc.constantFrom(...faultKinds), victim: fc.nat(), atMs: fc.integer({ min: 0, max: 400 }) }),
      { minLength: 1, maxLength: 2 }
    )
  }).map(({ backend, faults, shapes, traffic, transport }) => {
    const tree = nameTree(shapes)
    const size = members(tree).length
    return {
      backend,
      transport,
      tree,
      traffic: traffic.map((t) => ({ ...t, target: t.target % size })),
      // A process-only fault on a worker tree becomes its nearest worker equivalent.
      faults: faults.map((f) => ({
        ...f,
        kind: backend === "worker" && processOnly.has(f.kind) ? (f.kind === "sigstop" ? "busy" : f.kind === "sigkill" ? "throw" : "stubborn") : f.kind,
        victim: f.victim % size
      }))
    }
  })

/** The scenario generated by `seed` (the first value of a one-run fast-check property with that seed). */
export const generate = (seed: number, options: { readonly backends?: ReadonlyArray<Backend> } = {}): Scenario =>
  fc.sample(scenarioArb(options), { seed, numRuns: 1 })[0]!

/** One line per scenario, for logs and reports. */
export const describe = (s: Scenario): string => line(s, faultLabels(s, s.faults))

const faultLabels = (s: Scenario, faults: ReadonlyArray<Fault>): Array<string> => {
  const ms = members(s.tree)
  return faults.map((f) => (f.kind === "rootCancel" ? `rootCancel@${f.atMs}` : `${f.kind}(${ms[f.victim]!.name})@${f.atMs}`))
}

const line = (s: Scenario, faults: ReadonlyArray<string>): string => {
  const ms = members(s.tree)
  return `${s.backend}/${s.transport} ${ms.length} actors depth ${depthOf(s.tree)} [${ms.map((m) => m.name).join(" ")}] faults ${faults.join(", ")}; ${s.traffic.length} traffic`
}

/**
 * A fault that needs the root in a process of its own (`root-run.ts`):
 * - `rootKill`: SIGKILL of the root process (no finalizer of it runs): every actor must end by
 *   its parent-death path, nothing of the tree may be left;
 * - `rootInterrupt`: SIGINT to the root (`Troupe.runMain`): a graceful cascade, exit 130 within
 *   the teardown bound, every line an actor acknowledged delivered.
 */
export type RootFaultKind = "rootKill" | "rootInterrupt"
export interface RootFault {
  readonly kind: RootFaultKind
  /** Delay after the tree stands, ms. */
  readonly atMs: number
}

/**
 * The root fault of run `seed`, if any (one run in eight): drawn from a stream of its own, so the
 * scenario `generate(seed)` gives is the same with or without it (such a run keeps the tree, the
 * traffic and the `heldFaults`; the other faults are left out).
 */
export const rootFault = (seed: number): RootFault | undefined => {
  const r = fc.sample(
    fc.record({
      pick: fc.integer({ min: 0, max: 7 }),
      kind: fc.constantFrom<RootFaultKind>("rootKill", "rootInterrupt"),
      atMs: fc.integer({ min: 0, max: 400 })
    }),
    { seed: (seed ^ 0x5eed) | 0, numRuns: 1 }
  )[0]!
  return r.pick === 0 ? { kind: r.kind, atMs: r.atMs } : undefined
}

/**
 * Of a scenario's faults, those a root-fault run keeps: what an actor holds (a SIGTERM-ignoring
 * process, a setsid escapee), set up before the root is hit. The others are events of their own.
 */
export const heldFaults = (s: Scenario): ReadonlyArray<Fault> => s.faults.filter((f) => f.kind === "stubborn" || f.kind === "escapee")

/** `describe` for a run with a root fault. */
export const describeRootRun = (s: Scenario, f: RootFault): string =>
  line(s, [...faultLabels(s, heldFaults(s)), `${f.kind}@${f.atMs}`])
