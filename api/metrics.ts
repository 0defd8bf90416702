// The API's Prometheus metrics, in a registry of their own (so tests can build as many apps as they like).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServingModel } from '../serving/champion-watcher';

export interface ApiMetrics {
  registry: Registry;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  predictions: Counter<'decision'>;
  lateTransactions: Counter;
  errors: Counter<'kind'>;
  bundleRejections: Counter<'version'>;
}

/** Error kinds counted by `fraudops_api_errors_total`. */
export type ErrorKind =
  | 'validation'
  | 'malformed-json'
  | 'body-too-large'
  | 'batch-too-large'
  | 'unsupported-media-type'
  | 'not-found'
  | 'unauthorized'
  | 'no-model'
  | 'features-unavailable'
  | 'approval-refused'
  | 'workflow-not-found'
  | 'workflow-unavailable'
  | 'internal';

export function createApiMetrics(current: () => ServingModel | undefined): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fraudops_api_' });
  const metrics: ApiMetrics = {
    registry,
    requestDuration: new Histogram({
      name: 'fraudops_api_request_duration_seconds',
      help: 'HTTP request duration, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    predictions: new Counter({
      name: 'fraudops_api_predictions_total',
      help: 'Scored transactions, by decision at the model threshold',
      labelNames: ['decision'],
      registers: [registry],
    }),
    lateTransactions: new Counter({
      name: 'fraudops_api_late_transactions_total',
      help: "Raw transactions scored although older than their card's or terminal's latest (within records.lateness)",
      registers: [registry],
    }),
    errors: new Counter({
      name: 'fraudops_api_errors_total',
      help: 'Requests answered with an error, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    bundleRejections: new Counter({
      name: 'fraudops_api_model_bundle_rejections_total',
      help: 'Champion bundles refused (failed verification or warm-up) while the previous model kept serving',
      labelNames: ['version'],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'fraudops_api_model_info',
    help: 'The serving model: 1 for its version and bundle hash, absent before a model is loaded',
    labelNames: ['version', 'bundle_sha256', 'loaded_at'],
    registers: [registry],
    collect() {
      this.reset();
      const model = current();
      if (model) this.set({ version: model.version, bundle_sha256: model.loaded.manifest.bundleSha256, loaded_at: model.loadedAt }, 1);
    },
  });
  // Both decisions exist from the start, so a rate over them is defined before the first fraud.
  for (const decision of ['fraud', 'legit']) metrics.predictions.inc({ decision }, 0);
  return metrics;
}
