// The pipeline's input: everything a run needs from config.yaml, resolved by the client that starts it
// (temporal/pipeline.ts), so the workflow itself reads no file and replays the same settings.
import type { Duration } from '@temporalio/common';
import type { ExperimentOptions } from '../ml/experiment';
import type { ProtocolOptions } from '../ml/protocol';

export interface TrainingSettings {
  /** The experiment's options; `seed` drives SMOTE, and the trainer too when `seededTraining`. */
  options: Omit<ExperimentOptions, 'protocol'>;
  /** The time split, placed at the end of the matured data by the features step. */
  protocol: Omit<ProtocolOptions, 'trainStart'>;
  /** A seeded trainer repeats its noise: only for tests and benchmarks (the noise is then as secret as the seed). */
  seededTraining: boolean;
  checkpointEverySeconds: number;
}

export interface ApprovalSettings {
  approvers: string[];
  timeout: Duration;
  autoApprove: { enabled: boolean; minAveragePrecisionGain: number; maxEpsilon: number };
}

export interface PipelineSettings {
  model: string;
  /** Upsert the search attributes of temporal/search-attributes.ts (off only where they cannot be registered: the time-skipping test server). */
  searchAttributes: boolean;
  taskQueues: { cpu: string; gpu: string };
  gpuScheduleToStart: Duration;
  trainingHeartbeatTimeout: Duration;
  training: TrainingSettings;
  approval: ApprovalSettings;
}

export interface PipelineInput {
  settings: PipelineSettings;
  trigger: 'manual' | 'schedule';
  /** End offsets per topic and partition read at the trigger (manual runs): the run's dataset, and its id, follow from them. */
  until?: Record<string, number[]>;
}
