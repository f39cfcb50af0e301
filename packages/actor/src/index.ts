/**
 * troupe: structured-concurrency actors for Effect.
 *
 * @since 0.1.0
 */
export * as Actor from "./Actor.js"
export * as ActorPool from "./ActorPool.js"
export * as ActorContext from "./ActorContext.js"
export * as Bounds from "./Bounds.js"
export * as Dump from "./Dump.js"
export * as Endpoint from "./Endpoint.js"
export * from "./Errors.js"
export * as Metrics from "./Metrics.js"
export * as MsgStream from "./MsgStream.js"
export * as Nursery from "./Nursery.js"
export * as Portal from "./Portal.js"
export * as Protocol from "./Protocol.js"
export * as Registrar from "./Registrar.js"
export * as SpawnBackend from "./SpawnBackend.js"
export * as Supervisor from "./Supervisor.js"
export * as Transport from "./Transport.js"
export * as Troupe from "./Troupe.js"
export * as Wire from "./Wire.js"
