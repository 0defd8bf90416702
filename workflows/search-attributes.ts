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

/**
 * The tuning search's progress in the Web UI (workflows/tuning.ts): trials done, and in AveragePrecision the best
 * validation AP so far (the dev server allows 3 Double attributes, all taken), with Stage 'tuning' then 'tuned'.
 */
export const TUNING_KEYS = {
  trialsDone: { name: 'TuningTrialsDone', type: 'INT' } as SearchAttributeKey<'INT'>,
  bestAveragePrecision: PIPELINE_KEYS.averagePrecision,
};
