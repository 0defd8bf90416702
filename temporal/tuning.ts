// Starting tuningSearch runs from a client (CLI, tests) with the settings of config.yaml `tuning:`.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { TuningSearchInput } from '../workflows/tuning';
import { pipelineSettings } from './pipeline';
import { TuningError } from './tuned-config';

export const TUNING_WORKFLOW = 'tuningSearch';

export const PRIVATE_TUNING_REFUSAL =
  'tuning on private data: not available yet (tuning.data.source: private). The accounting of a random number of trials ' +
  '(Papernot & Steinke 2022, ml/tuning/accounting.ts) exists, but the search does not yet train on a dataset snapshot nor ' +
  'charge the privacy ledger; tune on public simulated data (tuning.data.source: public), which costs no privacy';

export function tuningInput(config: Config, overrides: { trials?: number; concurrency?: number } = {}): TuningSearchInput {
  const { tuning } = config;
  if (tuning.data.source !== 'public') throw new TuningError(PRIVATE_TUNING_REFUSAL);
  const { training } = pipelineSettings(config);
  return {
    method: tuning.method,
    trials: overrides.trials ?? tuning.trials,
    concurrency: overrides.concurrency ?? tuning.concurrency,
    space: tuning.space,
    data: { ...tuning.data, source: 'public' },
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

export async function startTuning(client: Client, config: Config, input: TuningSearchInput): Promise<{ workflowId: string }> {
  const workflowId = `tuning-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  await client.workflow.start(TUNING_WORKFLOW, {
    taskQueue: config.pipeline.taskQueues.workflow,
    workflowId,
    args: [input],
    staticSummary: `tuning: ${input.trials} trials, ${input.concurrency} at once, on public simulated data`,
  });
  return { workflowId };
}
