// trainingPipeline: ingest → validate → features/split → balance → train → evaluate → register → approval → promote.
// Only S3 keys, hashes and small summaries pass through history. Training goes to the GPU pool first and to the
// CPU pool when no GPU worker starts it within gpuScheduleToStart. Search attributes and activity summaries make
// a run readable from the Web UI alone. Before training, the privacy ledger sets the run's noise and refuses a run that
// would exceed the lifetime budget; the run's outcome is recorded there at the end, failures included.
import {
  type ActivityOptions,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { EvaluationRef } from '../activities/evaluate';
import type { DatasetRef } from '../activities/ingest';
import type { PrivacyReservation } from '../activities/privacy-ledger';
import type { TrainResult } from '../activities/train';
import { retryPolicy, unwrapPermanent } from './activity-failures';
import { awaitPromotionDecision } from './approval';
import { isScheduleToStartTimeout } from './gpu-fallback';
import { type PipelineStatus, type PromotionOutcome, pipelineStatus } from './messages';
import { PIPELINE_KEYS } from './search-attributes';
import type { ApprovalSettings, PipelineInput } from './settings';

export interface PipelineResult {
  stage: 'promoted' | 'rejected' | 'expired' | 'superseded';
  modelVersion: string;
  dataset: { sha256: string; rows: number; frauds: number };
  metrics: EvaluationRef['metrics'];
  champion: EvaluationRef['champion'];
  epsilon: number | null;
  /** The worst composed ε of the lifetime ledger with this run (null: unbounded); absent for runs before the ledger. */
  lifetimeEpsilon?: number | null;
  trainDevice: string;
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
const retry = (maximumAttempts: number) => retryPolicy(maximumAttempts, PERMANENT);

/** Registry writes are small and idempotent: retry them longer. */
const RECORDS: ActivityOptions = { startToCloseTimeout: '10m', retry: retry(10) };

/**
 * The auto-approve policy: within the ε budget, a candidate whose AP gain over the champion on the same test rows is
 * significant: the lower bound of the paired bootstrap (computed by evaluateCandidate at policy.confidence) exceeds
 * minAveragePrecisionGain; with no champion, the budget alone. `epsilon` is the lifetime ε after the run (worst day
 * or card) from the ledger; runs recorded before the ledger pass their own. `paired` false: runs started before the
 * paired bootstrap replay their raw AP margin (AP − champion AP ≥ minAveragePrecisionGain).
 */
function policyApproves(
  policy: ApprovalSettings['autoApprove'],
  evaluation: EvaluationRef,
  epsilon: { value: number | null; name: string },
  paired: boolean,
): string | undefined {
  if (!policy.enabled) return undefined;
  const { averagePrecision } = evaluation.metrics;
  if (epsilon.value === null || epsilon.value > policy.maxEpsilon) return undefined;
  const budget = `${epsilon.name} ${epsilon.value.toFixed(3)} ≤ ${policy.maxEpsilon}`;
  const champion = evaluation.champion;
  if (!champion) return `no champion yet; ${budget}`;
  const versus = `AP ${averagePrecision.toFixed(4)} vs champion ${champion.averagePrecision.toFixed(4)}`;
  if (!paired) {
    if (averagePrecision - champion.averagePrecision < policy.minAveragePrecisionGain) return undefined;
    return `${versus}: gain ≥ ${policy.minAveragePrecisionGain}; ${budget}`;
  }
  const { gain } = champion;
  if (!gain || !(gain.lowerBound > policy.minAveragePrecisionGain)) return undefined;
  return (
    `${versus}: gain ${gain.averagePrecision.toFixed(4)}, its ${Number((100 * gain.level).toPrecision(6))} % lower bound ${gain.lowerBound.toFixed(4)} > ` +
    `${policy.minAveragePrecisionGain} (paired bootstrap over ${gain.resamples} resamples of the test cards, P(gain > 0) = ` +
    `${gain.probabilityPositive.toFixed(3)}); ${budget}`
  );
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
    // The run fails with the activity's DataValidationError itself (its details: where the report is).
    call('validateSnapshot', `validate dataset ${dataset.sha256.slice(0, 12)} (${dataset.rows} rows)`, [dataset]).catch(
      unwrapPermanent(['DataValidationError']),
    ),
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

  let reservation: PrivacyReservation | undefined;
  if (patched('privacy-ledger')) {
    const { privacy } = settings;
    reservation = await step('privacy', () =>
      call(
        'reservePrivacy',
        `ledger: noise for ε ≤ ${privacy.targetEpsilon} per run, ≤ ${privacy.lifetimeEpsilon} ${privacy.unit === 'card' ? `per card per ${privacy.lifetimePeriodDays} days` : 'per event day'}`,
        [{ datasetSha256: dataset.sha256, split: { periods: split.periods }, training, settings: settings.training, privacy }],
        RECORDS,
      ).catch(unwrapPermanent(['PrivacyBudgetExceeded'])),
    );
    if (reservation.lifetimeEpsilon !== null) upsert([{ key: PIPELINE_KEYS.lifetimeEpsilon, value: reservation.lifetimeEpsilon }]);
  }
  /** How the attempt ended, in its ledger entry (display only: the entry counts whatever the outcome). */
  const recordOutcome = async (outcome: PipelineResult['stage'] | 'failed', modelVersion?: string) => {
    if (!reservation) return;
    await call(
      'recordPrivacyOutcome',
      `ledger: ${outcome}`,
      [{ entryKey: reservation.entryKey, datasetSha256: dataset.sha256, outcome, modelVersion }],
      RECORDS,
    );
  };

  try {
    const trainInput = { training, settings: settings.training, ...(reservation ? { noiseMultiplier: reservation.noiseMultiplier } : {}) };
    const TRAINING: ActivityOptions = { startToCloseTimeout: '6h', heartbeatTimeout: settings.trainingHeartbeatTimeout, retry: retry(5) };
    const o = settings.training.options;
    const trainSummary = (device: string) =>
      o.family === 'ebm'
        ? `${o.dp ? `DP-EBM ε ≤ ${o.targetEpsilon}` : 'non-private EBM'} on ${device}`
        : `${o.dp ? `DP-SGD ε ≤ ${o.targetEpsilon}` : 'non-private SGD'}, ${o.epochs} epochs on ${device}`;
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
          dataset,
          confidence: settings.approval.autoApprove.confidence,
          ...(reservation
            ? { lifetime: { epsilon: reservation.lifetimeEpsilon, delta: settings.privacy.delta, scope: reservation.worstOn } }
            : {}),
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

    const policy = policyApproves(
      settings.approval.autoApprove,
      evaluation,
      reservation ? { value: reservation.lifetimeEpsilon, name: 'lifetime ε' } : { value: metrics.epsilon, name: 'ε' },
      patched('approval-paired-bootstrap'),
    );
    // One candidate waits at a time, the newest: older waiting runs of this deployment are superseded (runs
    // recorded before this step replay without it).
    const supersede = async () =>
      patched('supersede-waiting-candidates')
        ? await call(
            'supersedeWaitingCandidates',
            `supersede older candidates awaiting approval`,
            [{ candidateVersion: registered.version }],
            RECORDS,
          )
        : undefined;
    let outcome: PromotionOutcome;
    if (policy) {
      await supersede();
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
        whileWaiting: async () => {
          const newer = (await supersede())?.supersededBy;
          if (!newer) return undefined;
          return {
            decision: 'superseded',
            version: registered.version,
            reason: `a newer run (${newer}) was already waiting for approval`,
            via: 'supersede',
            supersededBy: newer,
            decidedAt: new Date().toISOString(),
          };
        },
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
    await recordOutcome(final, registered.version);
    stage(final);
    return {
      stage: final,
      modelVersion: registered.version,
      dataset: { sha256: dataset.sha256, rows: dataset.rows, frauds: dataset.frauds },
      metrics,
      champion: evaluation.champion,
      epsilon: metrics.epsilon,
      ...(reservation ? { lifetimeEpsilon: reservation.lifetimeEpsilon } : {}),
      trainDevice: train.device,
      outcome,
      seconds: { ...status.steps },
    };
  } catch (err) {
    // The noise may have been drawn: the entry stays, marked failed. The run's own error is what it fails with.
    await recordOutcome('failed').catch((recordErr) => log.warn('could not mark the ledger entry failed', { error: String(recordErr) }));
    throw err;
  }
}
