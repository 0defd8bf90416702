// Starting tuningSearch runs from a client (CLI, tests) with the settings of config.yaml `tuning:`.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { trialCountDistribution } from '../ml/tuning/accounting';
import type { TuningSearchInput } from '../workflows/tuning';
import { pipelineSettings } from './pipeline';
import { TuningError } from './tuned-config';

export const TUNING_WORKFLOW = 'tuningSearch';

export function tuningInput(config: Config, overrides: { trials?: number; concurrency?: number } = {}): TuningSearchInput {
  const { tuning } = config;
  const settings = pipelineSettings(config);
  if (tuning.data.source === 'private') checkPrivateTuning(config, overrides.trials ?? tuning.trials);
  const { training } = settings;
  return {
    method: tuning.method,
    trials: overrides.trials ?? tuning.trials,
    concurrency: overrides.concurrency ?? tuning.concurrency,
    space: tuning.space,
    data: tuning.data.source === 'public' ? { ...tuning.data, source: 'public' } : { source: 'private' },
    ...(tuning.data.source === 'private' ? { private: { ...tuning.private, privacy: settings.privacy } } : {}),
    options: { ...training.options, targetEpsilon: tuning.epsilon ?? config.privacy.targetEpsilon },
    shape: training.protocol,
    taskQueues: { cpu: config.pipeline.taskQueues.cpu, gpu: config.pipeline.taskQueues.gpu },
    gpuSlots: config.pipeline.gpus,
    gpuScheduleToStart: config.pipeline.gpuScheduleToStart,
    heartbeatTimeout: config.pipeline.trainingHeartbeatTimeout,
    maximumAttempts: tuning.maximumAttempts,
    searchAttributes: true,
  };
}

/** A search on private data needs a share of the budget, a δ within it, and a law its mean can take. */
function checkPrivateTuning(config: Config, meanTrials: number): void {
  const { privacy } = config;
  if (!(privacy.tuningEpsilon > 0)) {
    throw new TuningError(
      `privacy.tuningEpsilon = ${privacy.tuningEpsilon}: the schedule leaves no budget to tuning on private data; give it a share ` +
        '(README "Tuning on private data": bench/tuning-privacy.ts prints what a search costs)',
    );
  }
  if (!(config.tuning.private.delta < privacy.delta / 2)) {
    throw new TuningError(
      `tuning.private.delta = ${config.tuning.private.delta}: must be below privacy.delta / 2 (${privacy.delta / 2}), the searches' share of δ`,
    );
  }
  trialCountDistribution(config.tuning.private.trialCount, meanTrials);
}

export async function startTuning(client: Client, config: Config, input: TuningSearchInput): Promise<{ workflowId: string }> {
  const workflowId = `tuning-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  await client.workflow.start(TUNING_WORKFLOW, {
    taskQueue: config.pipeline.taskQueues.workflow,
    workflowId,
    args: [input],
    staticSummary:
      input.data.source === 'public'
        ? `tuning: ${input.trials} trials, ${input.concurrency} at once, on public simulated data`
        : `tuning on private data: a random number of trials (mean ${input.trials}), ${input.concurrency} at once, charged to the privacy ledger`,
  });
  return { workflowId };
}
