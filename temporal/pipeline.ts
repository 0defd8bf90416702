// Starting and driving trainingPipeline runs from a client (CLI, API, tests): the settings come from config.yaml,
// and a manual run's id follows from the Kafka end offsets it will read, so triggering twice on the same data
// finds the first run instead of training again.
import { createHash } from 'node:crypto';
import { type Client, WorkflowIdReusePolicy } from '@temporalio/client';
import type { BestConfig } from '../activities/tuning';
import { createKafka, partitionRanges } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { type Config, lifetimePeriodDays } from '../config';
import { HANDBOOK_PROTOCOL } from '../ml/protocol';
import type { PipelineInput, PipelineSettings } from '../workflows/settings';
import { readTunedConfig, tunedOptions } from './tuned-config';

export const PIPELINE_WORKFLOW = 'trainingPipeline';

export interface SettingsOverrides {
  /** Training days (default pipeline.schedule.days). */
  days?: number;
  autoApprove?: boolean;
  /** A tuning search's best config: its hyper-parameters replace pipeline.training's (startPipeline reads it from MLflow). */
  tuned?: BestConfig;
  /** startPipeline: the search to read `tuned` from (an MLflow run id or latest), in place of pipeline.training.fromTuning. */
  tuning?: string;
}

export function pipelineSettings(config: Config, overrides: SettingsOverrides = {}): PipelineSettings {
  const t = config.pipeline.training;
  const { privacy } = config;
  const { approval } = config.pipeline;
  return {
    model: config.registry.modelName,
    searchAttributes: true,
    taskQueues: { cpu: config.pipeline.taskQueues.cpu, gpu: config.pipeline.taskQueues.gpu },
    gpuScheduleToStart: config.pipeline.gpuScheduleToStart,
    trainingHeartbeatTimeout: config.pipeline.trainingHeartbeatTimeout,
    training: {
      options: {
        family: t.family,
        balance: t.balance,
        smoteRatio: 0.1,
        smoteK: 5,
        dp: t.dp,
        privacyUnit: privacy.unit,
        targetEpsilon: privacy.targetEpsilon,
        delta: privacy.delta,
        accountant: privacy.accountant,
        clipNorm: t.clipNorm,
        clipping: t.clipping,
        samplingRate: t.samplingRate,
        batchSize: 256,
        hidden: t.hidden,
        epochs: t.epochs,
        learningRate: t.learningRate,
        learningRateDecay: t.dp ? 'none' : 'cosine',
        optimizer: t.optimizer,
        averaging: t.averaging,
        ...(t.averaging === 'ema' ? { emaDecay: t.emaDecay } : {}),
        ...(t.ebm ? { ebm: t.ebm } : {}),
        transform: 'fixed',
        seed: 0,
        ...(overrides.tuned ? tunedOptions(overrides.tuned, t.ebm) : {}),
      },
      protocol: {
        trainDays: overrides.days ?? config.pipeline.schedule.days,
        validationDays: HANDBOOK_PROTOCOL.validationDays,
        delayDays: config.producer.labelDelayDays,
        testDays: HANDBOOK_PROTOCOL.testDays,
      },
      seededTraining: false,
      checkpointEverySeconds: t.checkpointEverySeconds,
    },
    privacy: {
      unit: privacy.unit,
      targetEpsilon: privacy.targetEpsilon,
      delta: privacy.delta,
      accountant: privacy.accountant,
      lifetimeEpsilon: privacy.lifetimeEpsilon,
      lifetimePeriodDays: lifetimePeriodDays(privacy),
      tuningEpsilon: privacy.tuningEpsilon,
    },
    approval: {
      approvers: approval.approvers,
      timeout: approval.timeout,
      autoApprove: { ...approval.autoApprove, enabled: overrides.autoApprove ?? approval.autoApprove.enabled },
    },
  };
}

/** The next offset of every partition of the transactions and labels topics, right now. */
export async function currentEndOffsets(config: Config): Promise<Record<string, number[]>> {
  const admin = createKafka(config, 'fraudops-pipeline-trigger').admin();
  await admin.connect();
  try {
    const ends: Record<string, number[]> = {};
    // Labels first, as ingest does: every label below its mark has its transaction below the transactions' mark.
    for (const topic of [config.topics.labels, config.topics.transactions]) {
      ends[topic] = (await partitionRanges(admin, topic)).map((range) => range.high);
    }
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/** `training-<16 hex>`: a hash of the data (end offsets) and the settings, so the same trigger maps to the same run. */
export function manualWorkflowId(until: Record<string, number[]>, settings: PipelineSettings): string {
  const hash = createHash('sha256').update(JSON.stringify({ until, settings })).digest('hex');
  return `training-${hash.slice(0, 16)}`;
}

export interface StartedRun {
  workflowId: string;
  runId: string;
  /** False when a run with this id was already running or had completed: nothing new was started. */
  started: boolean;
}

/**
 * The overrides with the tuning search's best config read from MLflow when one is asked for (`tuning`, else
 * pipeline.training.fromTuning). Every client that starts runs resolves it: manual runs, retraining runs, and the
 * schedule when it is created or updated (`latest` is read then: `fraudops schedule create` again to take a newer one).
 */
export async function withTuning(config: Config, overrides: SettingsOverrides = {}): Promise<SettingsOverrides> {
  const tuning = overrides.tuning ?? config.pipeline.training.fromTuning;
  if (!tuning || overrides.tuned) return overrides;
  return { ...overrides, tuned: await readTunedConfig(MlflowClient.fromConfig(config), config, tuning) };
}

export async function startPipeline(client: Client, config: Config, overrides: SettingsOverrides = {}): Promise<StartedRun> {
  const settings = pipelineSettings(config, await withTuning(config, overrides));
  const until = await currentEndOffsets(config);
  const workflowId = manualWorkflowId(until, settings);
  const input: PipelineInput = { settings, trigger: 'manual', until };
  const handle = await client.workflow
    .start(PIPELINE_WORKFLOW, {
      taskQueue: config.pipeline.taskQueues.workflow,
      workflowId,
      args: [input],
      // A finished run on the same data stays the answer; only a failed one may run again.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: `manual training run: ${settings.training.protocol.trainDays} training days`,
    })
    .catch(async (err: Error) => {
      if (err.name !== 'WorkflowExecutionAlreadyStartedError') throw err;
      return undefined;
    });
  if (!handle) {
    const existing = await client.workflow.getHandle(workflowId).describe();
    return { workflowId, runId: existing.runId, started: false };
  }
  return { workflowId, runId: handle.firstExecutionRunId, started: true };
}
