// Retraining asked for by what the system sees, besides the daily schedule: severe live drift (the scorer's PSI of a
// feature against the champion's training data) or a drop of the champion's live quality. At most one such run per
// model per pipeline.retrain.period: its workflow id is drift-<model>-<first day of the period>, and Temporal refuses a
// second start with the same id (REJECT_DUPLICATE). The reason is the run's summary in the Web UI and its memo.
import { type Client, WorkflowIdReusePolicy } from '@temporalio/client';
import type { Config } from '../config';
import type { PipelineInput, RetrainTrigger } from '../workflows/settings';
import { currentEndOffsets, PIPELINE_WORKFLOW, pipelineSettings, type StartedRun, withTuning } from './pipeline';

const DAY_MS = 86_400_000;

export interface RetrainRequest {
  trigger: RetrainTrigger;
  /** What was seen, e.g. "TX_AMOUNT PSI 0.81 > 0.5 against version 3". */
  reason: string;
  /** When it was seen (now by default): picks the period. */
  at?: Date;
}

/** drift-<model>-<YYYY-MM-DD>: the first day (UTC) of the period, counted in whole periods from 1970-01-01. */
export function retrainWorkflowId(model: string, at: Date, periodDays: number): string {
  const periodMs = periodDays * DAY_MS;
  const start = new Date(Math.floor(at.getTime() / periodMs) * periodMs);
  return `drift-${model}-${start.toISOString().slice(0, 10)}`;
}

/** Starts the period's retraining run, or finds the one already started in it (started: false). */
export async function requestRetraining(client: Client, config: Config, request: RetrainRequest): Promise<StartedRun> {
  const periodDays = Number.parseInt(config.pipeline.retrain.period, 10);
  const workflowId = retrainWorkflowId(config.registry.modelName, request.at ?? new Date(), periodDays);
  // Asked again while the condition lasts: find the period's run without reading Kafka's offsets again.
  const existing = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: Error) => {
      if (err.name === 'WorkflowNotFoundError') return undefined;
      throw err;
    });
  if (existing) return { workflowId, runId: existing.runId, started: false };
  const input: PipelineInput = {
    settings: pipelineSettings(config, await withTuning(config)),
    trigger: request.trigger,
    reason: request.reason,
    until: await currentEndOffsets(config),
  };
  try {
    const handle = await client.workflow.start(PIPELINE_WORKFLOW, {
      taskQueue: config.pipeline.taskQueues.workflow,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `retraining on ${request.trigger}: ${request.reason}`,
      memo: { trigger: request.trigger, reason: request.reason },
    });
    return { workflowId, runId: handle.firstExecutionRunId, started: true };
  } catch (err) {
    if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    const existing = await client.workflow.getHandle(workflowId).describe();
    return { workflowId, runId: existing.runId, started: false };
  }
}
