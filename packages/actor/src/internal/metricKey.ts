/**
 * Metrics made from their `MetricKey`, and the key of each: `internal/metrics.ts` tags a metric by
 * tagging its key (`MetricKey.taggedWithLabels`), so the tagged metric resolves its registry entry
 * once and keeps it. (`Metric.taggedWithLabels` joins its labels into a new array on every update,
 * which misses the hook cache and builds and hashes a new key each time.)
 *
 * @internal
 */
import * as Metric from "effect/Metric"
import type * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"

const keys = new WeakMap<object, MetricKey.MetricKey.Untyped>()

/** `Metric.fromMetricKey(key)`, remembering the key. */
export const fromKey = <Type extends MetricKeyType.MetricKeyType<any, any>>(
  key: MetricKey.MetricKey<Type>
): Metric.Metric<Type, MetricKeyType.MetricKeyType.InType<Type>, MetricKeyType.MetricKeyType.OutType<Type>> => {
  const m = Metric.fromMetricKey(key)
  keys.set(m, key)
  return m
}

/** The key a metric was made from by `fromKey`, or `undefined`. */
export const keyOf = (metric: object): MetricKey.MetricKey.Untyped | undefined => keys.get(metric)
