// The tuning search's activities (workflows/tuning.ts): the MLflow parent run, one trial per candidate (a child
// process per attempt, activities/tuning-job.ts, heartbeating its progress; a child MLflow run tagged
// mlflow.parentRunId), and the search's end (best config, trials table and comparison plot on the parent run).
// On public simulated data the search costs no privacy. On private data (the pipeline's window, prepareTuningData)
// each trial trains with the noise the ledger reserved (reserveTuningPrivacy) and reports only its noisy score.
import { fork } from 'node:child_process';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Run } from '../clients/mlflow';
import type { ExperimentOptions, SplitFeatures } from '../ml/experiment';
import { featureSetOf } from '../ml/feature-set';
import { renderChartSvg } from '../ml/plots';
import type { ProtocolOptions } from '../ml/protocol';
import type { TrialCountKind } from '../ml/tuning/accounting';
import type { PrivateDataCounts, TrialMechanism } from '../ml/tuning/private-search';
import { type Candidate, candidateOptions, describeCandidate, type SearchSpace } from '../ml/tuning/space';
import { tuningSplits } from '../ml/tuning/splits';
import { resolveDeclaration } from '../records';
import type { PrivacySettings } from '../workflows/settings';
import { datasetColumns } from './dataset-columns';
import { type ActivityDeps, putRunObject, runKey } from './deps';
import { encodeSplit } from './features';
import type { DatasetRef } from './ingest';
import type { TuningJob, TuningJobMessage, TuningJobOutcome, ValidationScores } from './tuning-job';

/** The MLflow tags that tie a search's runs together (and find them again on a retry). */
export const TUNING_TAGS = {
  parent: 'mlflow.parentRunId',
  workflowId: 'fraudops.tuning.workflow_id',
  role: 'fraudops.tuning.role',
  trial: 'fraudops.tuning.trial',
  privacy: 'fraudops.tuning.privacy',
} as const;
/** The parent run's artifact the pipeline reads back (pipeline.training.fromTuning). */
export const BEST_CONFIG_ARTIFACT = 'best-config.json';
export const tuningExperiment = (modelName: string) => `${modelName}-tuning`;

export interface PublicTuningData {
  source: 'public';
  seeds: number[];
  customers: number;
  days: number;
}
export type TuningData = PublicTuningData | { source: 'private' };

/** A search on private data: its privacy settings (config.yaml tuning.private, with the pipeline's privacy). */
export interface PrivateTuningSettings {
  trialCount: TrialCountKind;
  scoreNoiseMultiplier: number;
  k: number;
  /** The search's δ (below privacy.delta). */
  delta: number;
  privacy: PrivacySettings;
}

/** The pipeline's window prepared for a private search: its split in S3 and the public numbers of its plan. */
export interface PrivateTuningDataRef {
  key: string;
  datasetSha256: string;
  periods: SplitFeatures['periods'];
  counts: PrivateDataCounts;
  validationDays: number;
}

/** What one trial reads: public simulations, or the private split with the noise its search reserved. */
export type TrialData =
  | PublicTuningData
  | {
      source: 'private';
      key: string;
      counts: PrivateDataCounts;
      mechanisms: TrialMechanism[];
      score: { k: number; days: number; sigma: number };
    };

/** What a search ranks its trials by. */
export const OBJECTIVES = {
  public: 'validation average precision (mean over the public seeds)',
  private: 'noisy daily card precision@k on the validation days (discrete Gaussian noise)',
} as const;

export interface TuningRunInput {
  method: 'random';
  trials: number;
  concurrency: number;
  space: SearchSpace;
  data: TuningData;
  /** Present when data.source is private. */
  private?: PrivateTuningSettings;
  /** The pipeline's training options every candidate overrides (DP at the tuning ε). */
  options: Omit<ExperimentOptions, 'protocol'>;
  shape: Omit<ProtocolOptions, 'trainStart'>;
}

export interface TrialInput {
  parentRunId: string;
  index: number;
  candidate: Candidate;
  options: TuningRunInput['options'];
  shape: TuningRunInput['shape'];
  data: TrialData;
}

export interface TrialHeartbeat {
  /** The worker's device label, as in TrialResult. */
  device: string;
  seed: number | null;
  stage: 'starting' | 'simulate' | 'load' | 'train';
  step: number;
  totalSteps: number;
}

export interface TrialResult extends Omit<TuningJobOutcome, 'backend'> {
  index: number;
  candidate: Candidate;
  runId: string;
  /** The worker's device label (TrainDevice's vocabulary) and the attempt that completed the trial. */
  device: string;
  attempt: number;
  seconds: number;
}

export interface BestConfig {
  /** The parent run: what pipeline.training.fromTuning names. */
  tuningRunId: string;
  /** The best trial's run and index; null for a private search, which releases neither. */
  trialRunId: string | null;
  trial: number | null;
  /** The hyper-parameters the pipeline trains with. */
  hyperParameters: Candidate;
  /** What the search ranked by (OBJECTIVES) and the best trial's value of it. */
  objective: { name: string; value: number };
  /** Exact validation metrics: public data only (a private search releases only its noisy score). */
  validation: TrialResult['validation'];
  epsilonPerTrial: number | null;
}

export interface TuningOutcome {
  best: BestConfig | null;
  trials: number;
  failed: number;
}

/** Errors a retry cannot fix: a candidate the experiment refuses. */
const NON_RETRYABLE = new Set(['InvalidInputError']);

/** The worker's device: `device` picks the trial's TensorFlow backend, `label` what results report. */
export interface TuningWorker {
  device: 'gpu' | 'cpu';
  label?: string;
}

const json = (value: unknown) => JSON.stringify(value);

export function createTuningActivities(deps: ActivityDeps, worker: TuningWorker = { device: 'cpu' }) {
  const { mlflow, config } = deps;
  const experimentId = () => mlflow.ensureExperiment(tuningExperiment(config.registry.modelName));
  const findRun = async (filter: string): Promise<Run | undefined> => (await mlflow.searchRuns([await experimentId()], filter, 1))[0];

  /** Runs the trial's child process; its progress becomes heartbeats. */
  const runJob = (job: TuningJob, beat: TrialHeartbeat): Promise<TuningJobOutcome> => {
    const context = Context.current();
    const child = fork(path.join(__dirname, 'tuning-job.ts'), [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
    });
    // EBM trials and simulation report no steps: the worker's own beat keeps a live trial from timing out.
    const alive = setInterval(() => context.heartbeat(beat), 2000);
    const onCancel = () => child.kill('SIGTERM');
    context.cancellationSignal.addEventListener('abort', onCancel);
    child.send(job);
    return new Promise<TuningJobOutcome>((resolve, reject) => {
      let outcome: TuningJobOutcome | undefined;
      let failure: Error | undefined;
      child.on('message', (message: TuningJobMessage) => {
        if (message.type === 'progress') {
          Object.assign(beat, { seed: message.seed, stage: message.stage, step: message.step ?? 0, totalSteps: message.totalSteps ?? 0 });
          context.heartbeat(beat);
        } else if (message.type === 'done') outcome = message.outcome;
        else {
          failure = NON_RETRYABLE.has(message.name)
            ? ApplicationFailure.create({ type: message.name, message: message.message, nonRetryable: true })
            : Object.assign(new Error(message.message), { name: message.name });
        }
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (outcome) resolve(outcome);
        else reject(failure ?? new Error(`the trial process ended without a result (exit code ${code}, signal ${signal})`));
      });
    }).finally(() => {
      clearInterval(alive);
      context.cancellationSignal.removeEventListener('abort', onCancel);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  };

  return {
    /** The search's MLflow parent run (found again by the workflow id on a retry). */
    async startTuningRun(input: TuningRunInput): Promise<{ runId: string; experimentId: string }> {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const id = await experimentId();
      const existing = await findRun(`tags.\`${TUNING_TAGS.workflowId}\` = '${workflowId}' and tags.\`${TUNING_TAGS.role}\` = 'parent'`);
      if (existing) return { runId: existing.info.run_id, experimentId: id };
      const { data } = input;
      const privacy =
        data.source === 'public'
          ? `tuned on public simulated data only (simulator seeds ${data.seeds.join(', ')}, never an evaluation seed): ` +
            'the search reads no private record and costs no privacy; no privacy ledger entry'
          : "tuned on the pipeline's private records: a random number of DP trials, only the best released " +
            '(Papernot & Steinke 2022); its (ε, δ) is charged to the privacy ledger (params privacy_epsilon, ledger_entry)';
      const run = await mlflow.createRun(id, {
        runName: `tuning ${workflowId}`,
        tags: { [TUNING_TAGS.workflowId]: workflowId, [TUNING_TAGS.role]: 'parent', [TUNING_TAGS.privacy]: privacy },
      });
      await mlflow.logBatch(run.info.run_id, {
        params: {
          method: input.method,
          trials: input.trials,
          concurrency: input.concurrency,
          search_space: json(input.space).slice(0, 6000),
          data_source: data.source,
          ...(data.source === 'public'
            ? { data_seeds: json(data.seeds), data_customers: data.customers, data_days: data.days, privacy_cost: 0 }
            : {}),
          objective: OBJECTIVES[data.source],
          dp: input.options.dp,
          privacy_unit: input.options.privacyUnit ?? 'transaction',
          epsilon_per_trial: input.options.targetEpsilon,
          delta: input.options.delta,
        },
      });
      return { runId: run.info.run_id, experimentId: id };
    },

    /**
     * A private search's data: the pipeline's window (a validated snapshot), split to the protocol shape with the
     * validation rows in the test slot (tuningSplits), in S3 under the search's run.
     */
    async prepareTuningData(input: { dataset: DatasetRef; shape: TuningRunInput['shape'] }): Promise<PrivateTuningDataRef> {
      const declaration = resolveDeclaration(config.records);
      const columns = await datasetColumns(deps, input.dataset, declaration);
      const splits = tuningSplits(columns, input.shape, featureSetOf(declaration));
      const key = runKey('tuning/split.bin');
      await putRunObject(deps, key, encodeSplit(splits));
      return {
        key,
        datasetSha256: input.dataset.sha256,
        periods: splits.periods,
        counts: { rows: splits.train.rows, cards: splits.train.cards },
        validationDays: input.shape.validationDays,
      };
    },

    /** One candidate trained and scored on the validation rows (public or private); its child run holds params and metrics. */
    async runTuningTrial(input: TrialInput): Promise<TrialResult> {
      const context = Context.current();
      const started = performance.now();
      const workflowId = context.info.workflowExecution?.workflowId ?? 'unknown';
      const trialKey = `${workflowId}#${input.index}`;
      const found = await findRun(`tags.\`${TUNING_TAGS.trial}\` = '${trialKey}'`);
      // A trial that finished before its worker died has its result on its run: nothing to train again.
      if (found?.info.status === 'FINISHED') return JSON.parse((await mlflow.downloadArtifact(found.info, 'trial.json')).toString('utf8'));
      const run =
        found ??
        (await mlflow.createRun(await experimentId(), {
          runName: `trial ${input.index}: ${describeCandidate(input.candidate)}`.slice(0, 250),
          tags: { [TUNING_TAGS.parent]: input.parentRunId, [TUNING_TAGS.trial]: trialKey, [TUNING_TAGS.role]: 'trial' },
        }));
      const options = candidateOptions(input.options, input.candidate) as TuningJob['options'];
      const beat: TrialHeartbeat = { device: worker.label ?? worker.device, seed: null, stage: 'starting', step: 0, totalSteps: 0 };
      context.heartbeat(beat);
      try {
        const { backend, ...outcome } = await runJob({ options, shape: input.shape, data: input.data, device: worker.device }, beat);
        const result: TrialResult = {
          ...outcome,
          index: input.index,
          candidate: input.candidate,
          runId: run.info.run_id,
          device: worker.label ?? worker.device,
          attempt: context.info.attempt,
          seconds: (performance.now() - started) / 1000,
        };
        const { validation } = outcome;
        await mlflow.logBatch(run.info.run_id, {
          params: {
            ...Object.fromEntries(Object.entries(input.candidate).map(([key, value]) => [key, json(value)])),
            trial: input.index,
            ...(input.data.source === 'public' ? { data_seeds: json(input.data.seeds) } : { data: 'private' }),
            backend,
          },
          metrics: {
            objective: outcome.objective,
            ...(validation
              ? {
                  validation_average_precision: validation.averagePrecision,
                  validation_roc_auc: validation.aucRoc,
                  validation_card_precision_at_100: validation.cardPrecisionAt100,
                }
              : {}),
            ...(outcome.epsilon === null ? {} : { epsilon: outcome.epsilon }),
            attempt: result.attempt,
            seconds: result.seconds,
          },
          tags: { device: result.device },
        });
        await mlflow.uploadArtifact(run.info, 'trial.json', json(result));
        await mlflow.finishRun(run.info.run_id);
        return result;
      } catch (err) {
        if (err instanceof ApplicationFailure && err.nonRetryable) {
          await mlflow.setRunTag(run.info.run_id, 'error', err.message.slice(0, 5000));
          await mlflow.finishRun(run.info.run_id, 'FAILED');
        }
        throw err;
      }
    },

    /** The best trial (highest objective) on the parent run: params best.*, best-config.json, trials, plot. */
    async finishTuningRun(input: {
      parentRunId: string;
      source: TuningData['source'];
      trials: TrialResult[];
      failed: number;
    }): Promise<TuningOutcome> {
      const parent = await mlflow.getRun(input.parentRunId);
      const ranked = [...input.trials].sort((a, b) => b.objective - a.objective);
      const [top] = ranked;
      // A private search releases the best trial's hyper-parameters and noisy score only: its index, the number of
      // trials and the other trials' scores stay in the child runs (the operator's records, not the released result).
      const released = input.source === 'public';
      const best: BestConfig | null = top
        ? {
            tuningRunId: input.parentRunId,
            trialRunId: released ? top.runId : null,
            trial: released ? top.index : null,
            hyperParameters: top.candidate,
            objective: { name: OBJECTIVES[input.source], value: top.objective },
            validation: top.validation,
            epsilonPerTrial: top.epsilon,
          }
        : null;
      const validation = best?.validation;
      await mlflow.logBatch(input.parentRunId, {
        params: best ? Object.fromEntries(Object.entries(best.hyperParameters).map(([key, value]) => [`best.${key}`, json(value)])) : {},
        metrics: {
          ...(released ? { trials_done: input.trials.length, trials_failed: input.failed } : {}),
          ...(best ? { best_objective: best.objective.value } : {}),
          ...(validation
            ? {
                best_validation_average_precision: validation.averagePrecision,
                best_validation_roc_auc: validation.aucRoc,
                best_validation_card_precision_at_100: validation.cardPrecisionAt100,
              }
            : {}),
        },
        tags: best?.trialRunId ? { best_trial_run_id: best.trialRunId } : {},
      });
      if (released) await mlflow.uploadArtifact(parent.info, 'trials.json', json(ranked));
      if (best) await mlflow.uploadArtifact(parent.info, BEST_CONFIG_ARTIFACT, JSON.stringify(best, null, 2));
      if (best && released) await mlflow.uploadArtifact(parent.info, 'comparison.svg', comparisonSvg(ranked));
      await mlflow.finishRun(input.parentRunId, best ? 'FINISHED' : 'FAILED');
      return { best, trials: input.trials.length, failed: input.failed };
    },
  };
}

/** The trials of a public search ranked by validation AP, with their AUC and card precision@100: one line per metric. */
export function comparisonSvg(ranked: TrialResult[]): string {
  const x = ranked.map((_, rank) => rank + 1);
  const metric = (pick: (v: ValidationScores) => number) => ranked.map((t) => (t.validation ? pick(t.validation) : Number.NaN));
  return renderChartSvg({
    title: 'Tuning trials ranked by validation AP',
    xLabel: 'rank (1 = best)',
    yLabel: 'validation metric (mean over the public seeds)',
    xDomain: [1, Math.max(2, ranked.length)],
    yDomain: [0, 1],
    series: [
      { label: 'average precision', x, y: ranked.map((t) => t.objective) },
      { label: 'ROC AUC', x, y: metric((v) => v.aucRoc), dashed: true },
      { label: 'card precision@100', x, y: metric((v) => v.cardPrecisionAt100), dashed: true },
    ],
  });
}
