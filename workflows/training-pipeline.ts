// trainingPipeline: ingest → validate → features/split → balance → train → evaluate → register → approval → promote.
// Only S3 keys, hashes and small summaries pass through history. Training goes to the GPU pool first and to the
// CPU pool when no GPU worker starts it within gpuScheduleToStart. Search attributes and activity summaries make
// a run readable from the Web UI alone.
import {
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { EvaluationRef } from '../activities/evaluate';
import type { DatasetRef } from '../activities/ingest';
import type { TrainResult } from '../activities/train';
import { awaitPromotionDecision } from './approval';
import { type PipelineStatus, type PromotionOutcome, pipelineStatus } from './messages';
import { PIPELINE_KEYS } from './search-attributes';
import type { ApprovalSettings, PipelineInput } from './settings';

export interface PipelineResult {
  stage: 'promoted' | 'rejected' | 'expired';
  modelVersion: string;
  dataset: { sha256: string; rows: number; frauds: number };
  metrics: EvaluationRef['metrics'];
  champion: EvaluationRef['champion'];
  epsilon: number | null;
  trainDevice: 'gpu' | 'cpu';
  outcome: PromotionOutcome;
  /** Wall time of each step in seconds. */
  seconds: Record<string, number>;
}

/** Every activity proxy has it; the generic `call` below needs it without the per-activity types. */
interface WithOptions {
  executeWithOptions(options: ActivityOptions, args: unknown[]): Promise<unknown>;
}

/** Errors a retry cannot fix: the run ends on them at once. */
const PERMANENT = ['InvalidInputError', 'DataValidationError', 'BundleIntegrityError', 'RegistryError'];
const retry = (maximumAttempts: number) => ({
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts,
  nonRetryableErrorTypes: PERMANENT,
});

/** Registry writes are small and idempotent: retry them longer. */
const RECORDS: ActivityOptions = { startToCloseTimeout: '10m', retry: retry(10) };

function isScheduleToStartTimeout(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

/** The auto-approve policy: a candidate that beats the champion by the margin, within the ε budget. */
function policyApproves(policy: ApprovalSettings['autoApprove'], evaluation: EvaluationRef): string | undefined {
  if (!policy.enabled) return undefined;
  const { averagePrecision, epsilon } = evaluation.metrics;
  if (epsilon === null || epsilon > policy.maxEpsilon) return undefined;
  const champion = evaluation.champion?.averagePrecision;
  if (champion !== undefined && averagePrecision - champion < policy.minAveragePrecisionGain) return undefined;
  return champion === undefined
    ? `no champion yet; ε ${epsilon.toFixed(3)} ≤ ${policy.maxEpsilon}`
    : `AP ${averagePrecision.toFixed(4)} beats champion ${champion.toFixed(4)} by ≥ ${policy.minAveragePrecisionGain}; ε ${epsilon.toFixed(3)} ≤ ${policy.maxEpsilon}`;
}

export async function trainingPipeline(input: PipelineInput): Promise<PipelineResult> {
  const { settings } = input;
  const upsert: typeof upsertSearchAttributes = (attributes) => {
    if (settings.searchAttributes !== false) upsertSearchAttributes(attributes);
  };
  const acts = proxyActivities<Activities>({ taskQueue: settings.taskQueues.cpu, startToCloseTimeout: '30m', retry: retry(3) });
  /** One activity call with a summary for the Web UI; `options` override the defaults above. */
  const call = <K extends keyof Activities>(name: K, summary: string, args: Parameters<Activities[K]>, options: ActivityOptions = {}) =>
    (acts[name] as unknown as WithOptions).executeWithOptions({ ...options, summary }, args) as ReturnType<Activities[K]>;
  const status: PipelineStatus = { stage: 'starting', steps: {}, approvers: settings.approval.approvers, ignoredSignals: [] };
  setHandler(pipelineStatus, () => status);

  const stage = (name: string) => {
    status.stage = name;
    upsert([{ key: PIPELINE_KEYS.stage, value: name }]);
  };
  /** Runs one step, timing it for the status query and the registered run. */
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    stage(name);
    const started = Date.now();
    try {
      const result = await run();
      status.steps[name] = (Date.now() - started) / 1000;
      return result;
    } catch (err) {
      stage('failed');
      status.failedStep = name;
      throw err;
    }
  };

  const dataset: DatasetRef = await step('ingest', () =>
    call('ingestDataset', 'snapshot Kafka transactions + labels to S3', [{ until: input.until }], {
      heartbeatTimeout: '2m',
      retry: retry(5),
    }),
  );
  status.datasetSha256 = dataset.sha256;

  const validation = await step('validate', () =>
    call('validateSnapshot', `validate dataset ${dataset.sha256.slice(0, 12)} (${dataset.rows} rows)`, [dataset]).catch((err) => {
      // The run fails with the activity's DataValidationError itself (its details: where the report is).
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === 'DataValidationError') throw cause;
      throw err;
    }),
  );
  const split = await step('features', () =>
    call('buildFeatures', `features + time split of ${dataset.sha256.slice(0, 12)}`, [{ dataset, training: settings.training }]),
  );
  const training = await step('balance', () =>
    call(
      'balanceClasses',
      `${settings.training.options.balance} on ${split.rows.train} training rows (${split.periods.train.from}..${split.periods.train.to})`,
      [{ split, training: settings.training }],
    ),
  );

  const trainInput = { training, settings: settings.training };
  const TRAINING: ActivityOptions = { startToCloseTimeout: '6h', heartbeatTimeout: settings.trainingHeartbeatTimeout, retry: retry(5) };
  const trainSummary = (device: string) =>
    `${settings.training.options.dp ? `DP-SGD ε ≤ ${settings.training.options.targetEpsilon}` : 'non-private SGD'}, ${settings.training.options.epochs} epochs on ${device}`;
  const train: TrainResult = await step('train', async () => {
    try {
      return await call('trainModel', trainSummary('the GPU pool'), [trainInput], {
        ...TRAINING,
        taskQueue: settings.taskQueues.gpu,
        scheduleToStartTimeout: settings.gpuScheduleToStart,
      });
    } catch (err) {
      if (!isScheduleToStartTimeout(err)) throw err;
      log.warn('no GPU worker started training in time: training on the CPU pool', { gpuScheduleToStart: settings.gpuScheduleToStart });
      return call(
        'trainModel',
        `${trainSummary('the CPU pool')} (no GPU worker within ${settings.gpuScheduleToStart})`,
        [trainInput],
        TRAINING,
      );
    }
  });
  status.trainDevice = train.device;
  upsert([{ key: PIPELINE_KEYS.trainDevice, value: train.device }]);

  const evaluation = await step('evaluate', () =>
    call('evaluateCandidate', 'test metrics, champion on the same rows, bundle', [
      {
        split,
        training,
        train,
        validation,
        labelDelayDays: settings.training.protocol.delayDays,
        createdAt: new Date(workflowInfo().startTime).toISOString(),
      },
    ]),
  );
  const { metrics } = evaluation;
  Object.assign(status, {
    averagePrecision: metrics.averagePrecision,
    championAveragePrecision: evaluation.champion?.averagePrecision ?? null,
    epsilon: metrics.epsilon,
  });
  upsert([
    { key: PIPELINE_KEYS.averagePrecision, value: metrics.averagePrecision },
    ...(metrics.epsilon === null ? [] : [{ key: PIPELINE_KEYS.epsilon, value: metrics.epsilon }]),
  ]);

  const registered = await step('register', () =>
    call(
      'registerCandidate',
      `MLflow run + version of ${settings.model}`,
      [{ dataset, validation, split, training, train, evaluation, settings: settings.training, timings: { ...status.steps } }],
      RECORDS,
    ),
  );
  upsert([{ key: PIPELINE_KEYS.modelVersion, value: registered.version }]);

  const policy = policyApproves(settings.approval.autoApprove, evaluation);
  let outcome: PromotionOutcome;
  if (policy) {
    outcome = {
      decision: 'approved',
      version: registered.version,
      approver: 'auto-approve',
      reason: policy,
      via: 'policy',
      decidedAt: new Date().toISOString(),
    };
    status.outcome = outcome;
    status.candidateVersion = registered.version;
  } else {
    stage('awaiting-approval');
    outcome = await awaitPromotionDecision({
      candidateVersion: registered.version,
      approvers: settings.approval.approvers,
      timeout: settings.approval.timeout,
      status,
    });
  }
  await call(
    'recordDecision',
    `record "${outcome.decision}" on version ${registered.version}`,
    [{ version: registered.version, outcome }],
    RECORDS,
  );
  if (outcome.decision === 'approved') {
    await step('promote', () =>
      call('promoteCandidate', `alias champion → version ${registered.version}`, [{ version: registered.version }], RECORDS),
    );
  }
  const final = outcome.decision === 'approved' ? 'promoted' : outcome.decision;
  stage(final);
  return {
    stage: final,
    modelVersion: registered.version,
    dataset: { sha256: dataset.sha256, rows: dataset.rows, frauds: dataset.frauds },
    metrics,
    champion: evaluation.champion,
    epsilon: metrics.epsilon,
    trainDevice: train.device,
    outcome,
    seconds: { ...status.steps },
  };
}
