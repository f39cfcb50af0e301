// peer.ts — the actor module of registrar.ts: actors that find siblings by name through the
// registrar and call them directly (a peer channel, not through the parent).
import { Effect, Schema } from "effect"
import { Actor, Endpoint, Registrar, Troupe } from "@troupe/actor"

export const Peer = Actor.define("Peer", {
  whoami: Endpoint.call({ success: Schema.String }),
  /** Wait until an actor named `payload` is registered, then call its `whoami`. */
  greetPeer: Endpoint.call({ payload: Schema.String, success: Schema.String })
})

export const PeerLive = Peer.implement(import.meta.url, {
  whoami: () => Effect.map(Troupe.self, (self) => `${self.name} (pid ${self.pid})`),
  greetPeer: (name) =>
    Effect.gen(function*() {
      const self = yield* Troupe.self
      // The portal (and its connection) lives in this scope: closed when the call returns.
      const other = yield* Registrar.waitForActor(name, Peer)
      return `${self.name} asked ${name}, who said: ${yield* other.whoami()}`
    }).pipe(Effect.scoped)
})
