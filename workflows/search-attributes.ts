// The pipeline's search attribute keys, as the workflow upserts them. Types only from @temporalio/common, so the
// workflow bundle stays deterministic; tests check the names and types against temporal/search-attributes.ts.
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

export const PIPELINE_KEYS = {
  modelVersion: { name: 'ModelVersion', type: 'KEYWORD' } as SearchAttributeKey<'KEYWORD'>,
  averagePrecision: { name: 'AveragePrecision', type: 'DOUBLE' } as SearchAttributeKey<'DOUBLE'>,
  epsilon: { name: 'Epsilon', type: 'DOUBLE' } as SearchAttributeKey<'DOUBLE'>,
  /** The worst composed ε of the lifetime ledger after this run's entry (event day, or card over the period). */
  lifetimeEpsilon: { name: 'LifetimeEpsilon', type: 'DOUBLE' } as SearchAttributeKey<'DOUBLE'>,
  stage: { name: 'Stage', type: 'KEYWORD' } as SearchAttributeKey<'KEYWORD'>,
  trainDevice: { name: 'TrainDevice', type: 'KEYWORD' } as SearchAttributeKey<'KEYWORD'>,
};
