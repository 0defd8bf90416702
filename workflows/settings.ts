// The pipeline's input: everything a run needs from config.yaml, resolved by the client that starts it
// (temporal/pipeline.ts), so the workflow itself reads no file and replays the same settings.
import type { Duration } from '@temporalio/common';
import type { ExperimentOptions } from '../ml/experiment';
import type { ProtocolOptions } from '../ml/protocol';

export interface TrainingSettings {
  /** The experiment's options; `seed` drives SMOTE and the trainer's (public) initialisation, never the DP noise. */
  options: Omit<ExperimentOptions, 'protocol'>;
  /** The time split, placed at the end of the matured data by the features step. */
  protocol: Omit<ProtocolOptions, 'trainStart'>;
  /**
   * Tests only: the DP noise and sampling follow from `options.seed` (TrainerOptions.insecureNoiseSeed), so a run
   * repeats; its privacy report says NOT covered and registration refuses the model.
   */
  seededTraining: boolean;
  checkpointEverySeconds: number;
}

export interface ApprovalSettings {
  approvers: string[];
  timeout: Duration;
  /**
   * maxEpsilon bounds the lifetime ε after the run (the worst event day, or per card over the period), not one run's.
   * The paired bootstrap's lower bound on the AP gain over the champion, at `confidence`, must exceed
   * minAveragePrecisionGain. Runs started before `confidence` existed have none: they keep the raw AP margin.
   */
  autoApprove: { enabled: boolean; confidence?: number; minAveragePrecisionGain: number; maxEpsilon: number };
}

/** config.yaml `privacy:` (the lifetime ledger's budget; unit, targetEpsilon, delta and accountant also feed training). */
export interface PrivacySettings {
  unit: 'transaction' | 'card';
  /** The most one run may spend (ε at delta). */
  targetEpsilon: number;
  delta: number;
  accountant: 'rdp' | 'pld';
  /** Budget per event day (transaction unit) or per card over lifetimePeriodDays (card unit). */
  lifetimeEpsilon: number;
  lifetimePeriodDays: number;
  /** Of lifetimeEpsilon, what the schedule leaves to tuning searches on private data (0 or absent: none). */
  tuningEpsilon?: number;
}

export interface PipelineSettings {
  model: string;
  /** Upsert the search attributes of temporal/search-attributes.ts (off only where they cannot be registered: the time-skipping test server). */
  searchAttributes: boolean;
  taskQueues: { cpu: string; gpu: string };
  gpuScheduleToStart: Duration;
  trainingHeartbeatTimeout: Duration;
  training: TrainingSettings;
  privacy: PrivacySettings;
  approval: ApprovalSettings;
}

/** What started a run besides an operator or the schedule (temporal/retrain.ts). */
export type RetrainTrigger = 'live-drift' | 'quality-drop';

export interface PipelineInput {
  settings: PipelineSettings;
  trigger: 'manual' | 'schedule' | RetrainTrigger;
  /** Why a retraining run was started (live drift, a quality drop). */
  reason?: string;
  /** End offsets per topic and partition read at the trigger (manual runs): the run's dataset, and its id, follow from them. */
  until?: Record<string, number[]>;
}
