/**
 * The `troupe` CLI's configuration from the environment, read once at start through Effect
 * `Config` (see `@troupe/actor/TroupeConfig`): `TROUPE_LOG` (its log level on stderr, default
 * Warning), `TROUPE_REGISTRAR` (`troupe ps`'s default registrar) and `TROUPE_SECRET` (the
 * tree's secret, for `troupe ps` to authenticate). A wrong value fails the
 * start with a `ConfigError` naming the variable and the accepted values (exit 2).
 */
import { Config, Context, type LogLevel, type Option, type Redacted } from "effect"
import type { Address } from "@troupe/actor/Protocol"
import * as TroupeConfig from "@troupe/actor/TroupeConfig"

export interface CliSettings {
  readonly logLevel: LogLevel.LogLevel
  readonly registrar: Option.Option<Address>
  readonly secret: Option.Option<Redacted.Redacted<string>>
}

export class CliConfig extends Context.Tag("@troupe/cli/CliConfig")<CliConfig, CliSettings>() {
  static readonly config: Config.Config<CliSettings> = Config.all({
    logLevel: TroupeConfig.cliLogLevel,
    registrar: TroupeConfig.registrar,
    secret: TroupeConfig.secret
  })
}
