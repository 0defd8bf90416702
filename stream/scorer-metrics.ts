// The stream scorer's Prometheus metrics (the drift gauges live in stream/drift.ts).
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';

export type ScorerMetrics = ReturnType<typeof createMetrics>;

export interface PartitionLag {
  topic: string;
  partition: number;
  lag: number;
}

export function createMetrics(registry: Registry, lag: () => PartitionLag[]) {
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    predictions: new Counter({
      name: 'fraudops_scorer_predictions_total',
      help: 'Predictions published, by decision',
      labelNames: ['decision'],
      registers,
    }),
    transactions: new Counter({
      name: 'fraudops_scorer_transactions_total',
      help: 'Transactions read without a new prediction: replayed into the state only',
      labelNames: ['outcome'],
      registers,
    }),
    rejected: new Counter({
      name: 'fraudops_scorer_rejected_total',
      help:
        'Input messages without a prediction, each sent to the DLQ with the reason, by kind: malformed (breaks the record ' +
        'contract), lateness (older than records.lateness allows), maxFuture (too far past the wall clock), input (no features)',
      labelNames: ['kind'],
      registers,
    }),
    late: new Counter({
      name: 'fraudops_scorer_late_total',
      help: "Transactions scored late: older than their card's or terminal's latest, within records.lateness",
      registers,
    }),
    labels: new Counter({
      name: 'fraudops_scorer_labels_total',
      help: 'Labels applied, or kept until their transaction arrives',
      labelNames: ['outcome'],
      registers,
    }),
    review: new Counter({ name: 'fraudops_scorer_review_total', help: 'Uncertain cases sent to the review queue', registers }),
    stepSeconds: new Histogram({
      name: 'fraudops_scorer_step_seconds',
      help: 'Duration of one scoring step (state read, scoring, Kafka transaction, state write)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    phaseSeconds: new Histogram({
      name: 'fraudops_scorer_step_phase_seconds',
      help: 'Duration of each phase of a step: features (state read + compute), score, publish (Kafka transaction), state (Redis write)',
      labelNames: ['phase'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    endToEnd: new Histogram({
      name: 'fraudops_scorer_end_to_end_seconds',
      help: 'From the input message timestamp to its prediction being committed',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    modelInfo: new Gauge({
      name: 'fraudops_scorer_model_info',
      help: 'The model version scoring (value 1)',
      labelNames: ['version'],
      registers,
    }),
    lag: new Gauge({
      name: 'fraudops_scorer_consumer_lag',
      help: 'Messages behind the high-water mark, per input partition (committed offsets)',
      labelNames: ['topic', 'partition'],
      registers,
      collect() {
        this.reset();
        for (const { topic, partition, lag: value } of lag()) this.set({ topic, partition: String(partition) }, value);
      },
    }),
  };
}
