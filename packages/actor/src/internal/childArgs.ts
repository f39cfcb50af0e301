/**
 * What a parent tells a child it launches, on its command line (a process) or in `workerData`
 * (a worker): where to connect back, who its parent is, its own name and id, and the limits of
 * that first connection. Written by every backend (`encode`), read by the child's host. Also the
 * spawn spec a backend hands over at launch (`decodeSpec`), and for a process child the variable
 * it comes in (`spawnSpecVar`, `takeSpawnSpec`). See docs/protocol.md, "Boot".
 *
 * @internal
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { limits } from "../Bounds.js"
import { Address, Aid, SpawnSpec } from "../Protocol.js"
import type { LaunchRequest } from "../SpawnBackend.js"

export const ChildArgs = Schema.parseJson(Schema.Struct({
  parent: Address,
  parentPid: Schema.Number,
  /**
   * The parent actor, as its `Hello` will name it: the child need not wait for that `Hello`
   * before it goes on booting (it checks it when it comes). Absent: it waits.
   */
  parentAid: Schema.optional(Aid),
  id: Schema.String,
  name: Schema.String,
  /** The parent's connection limits (`Bounds.limits`), in force from the first frame. */
  limits: Schema.Struct({
    maxFrameBytes: Schema.Number,
    maxQueuedBytes: Schema.Number,
    maxUnattachedMessages: Schema.Number,
    flushMs: Schema.Number
  })
}))
export type ChildArgs = typeof ChildArgs.Type

/** The `ChildArgs` (JSON) of `request`; `parentPid`: the process the child's parent-death watch follows. */
export const encode = (request: LaunchRequest, parentPid: number): string =>
  JSON.stringify({
    parent: request.parent,
    parentPid,
    ...(request.parentAid !== undefined ? { parentAid: request.parentAid } : {}),
    id: request.id,
    name: request.name,
    limits: limits(request.bounds)
  })

/** Read `ChildArgs` from their JSON; throws a `ParseError` when malformed. */
export const decode = Schema.decodeUnknownSync(ChildArgs)

/**
 * The environment variable a process child's `SpawnSpec` comes in (JSON) when it carries no
 * secret: the parent then sends no `SpawnSpec` message (`LaunchedActor.specDelivered`).
 */
export const spawnSpecVar = "TROUPE_SPAWN_SPEC"

/**
 * The spawn spec handed over in `env` (its JSON parsed; left as it is when it does not parse, so
 * it decodes as malformed), taken out so nothing the actor starts inherits it; `undefined` if none.
 */
export const takeSpawnSpec = (env: NodeJS.ProcessEnv = process.env): unknown => {
  const json = env[spawnSpecVar]
  if (json === undefined) return undefined
  delete env[spawnSpecVar]
  try {
    return JSON.parse(json)
  } catch {
    return json
  }
}

const decodeSpecEither = Schema.decodeUnknownEither(SpawnSpec)

/** A spawn spec handed over at launch (`Host.spec`): absent, decoded, or why it is malformed. */
export const decodeSpec = (u: unknown): SpawnSpec | string | undefined => {
  if (u === undefined) return undefined
  const r = decodeSpecEither(u)
  return r._tag === "Right" ? r.right : ParseResult.TreeFormatter.formatErrorSync(r.left)
}
