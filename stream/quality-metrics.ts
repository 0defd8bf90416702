// The live quality monitor's Prometheus metrics (deploy/prometheus/alerts.yml: ChampionLiveQualityLow).
import { Counter, collectDefaultMetrics, Gauge, type Registry } from 'prom-client';

export type QualityMetrics = ReturnType<typeof createQualityMetrics>;

/** The `metric` label values of the daily and window gauges. */
export type QualityMetricName =
  | 'average_precision'
  | 'roc_auc'
  | 'card_precision_at_100'
  | 'precision'
  | 'recall'
  | 'alert_rate'
  | 'labelled'
  | 'positives';

export function createQualityMetrics(registry: Registry) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    daily: new Gauge({
      name: 'fraudops_quality_daily',
      help:
        'Live quality per event day, model version and label source (chargeback | analyst: reviewed cases only), for the ' +
        'latest quality.windowDays labelled days of each version seen in them; metric: average_precision, roc_auc, ' +
        'card_precision_at_100, precision, recall (at the threshold), alert_rate, labelled, positives',
      labelNames: ['version', 'day', 'source', 'metric'],
      registers,
    }),
    window: new Gauge({
      name: 'fraudops_quality_window',
      help: 'Live quality over the latest quality.windowDays labelled event days of a version (metric: average_precision, labelled, positives); average_precision only with quality.minPositives frauds',
      labelNames: ['version', 'source', 'metric'],
      registers,
    }),
    offline: new Gauge({
      name: 'fraudops_quality_offline_average_precision',
      help: 'Test-set AP of a model version as registered in MLflow (metric average_precision of its run)',
      labelNames: ['version'],
      registers,
    }),
    floor: new Gauge({
      name: 'fraudops_quality_average_precision_floor',
      help: 'The live AP below which the version is degraded: its offline test AP minus quality.apMargin',
      labelNames: ['version'],
      registers,
    }),
    champion: new Gauge({
      name: 'fraudops_quality_champion_info',
      help: 'The champion version of the registry (value 1)',
      labelNames: ['version'],
      registers,
    }),
    messages: new Counter({
      name: 'fraudops_quality_messages_total',
      help: 'Messages read: predictions, and labels by source; outcome applied, or rejected (malformed, unknown source)',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    rollbacks: new Counter({
      name: 'fraudops_quality_rollbacks_total',
      help: 'Champions rolled back to `previous` by the quality policy (quality.rollback.enabled)',
      registers,
    }),
    refreshSeconds: new Gauge({
      name: 'fraudops_quality_refresh_seconds',
      help: 'Duration of the last recomputation of the quality metrics',
      registers,
    }),
  };
}
