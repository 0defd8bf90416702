// Step 7: the MLflow run (params, metrics, artifacts) and a version of the registered model, both idempotent on the
// workflow run: a retried register finds the run by its workflow_id tag and the version by its run.
// Step 9: the approval decision recorded as version tags, and promotion (alias champion, announced on model-events).
import { execFileSync } from 'node:child_process';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { loadBundleFilesFromS3 } from '../clients/bundle-store';
import { bundleOfVersion, promoteVersion, registerBundleVersion, VERSION_TAGS } from '../clients/model-registry';
import { projectRoot } from '../config';
import type { PairedGain } from '../ml/bootstrap';
import { ebmSettingsOf } from '../ml/ebm';
import { hiddenLayersOf } from '../ml/experiment';
import type { PromotionOutcome } from '../workflows/messages';
import type { TrainingSettings } from '../workflows/settings';
import type { TrainingSetRef } from './balance';
import { type ActivityDeps, getRunObject } from './deps';
import type { CandidateMetrics, EvaluationRef } from './evaluate';
import type { SplitRef } from './features';
import type { DatasetRef } from './ingest';
import { pipelineRun } from './pipeline-run';
import type { TrainResult } from './train';
import type { ValidationRef } from './validate';

export interface RegisterInput {
  dataset: DatasetRef;
  validation: ValidationRef;
  split: SplitRef;
  training: TrainingSetRef;
  train: TrainResult;
  evaluation: EvaluationRef;
  settings: TrainingSettings;
  /** Seconds per step, measured by the workflow. */
  timings: Record<string, number>;
}

export interface RegisteredCandidate {
  version: string;
  runId: string;
  experimentId: string;
}

/** The commit the worker runs (or the package version outside a git checkout). */
function codeVersion(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return `package ${require('../package.json').version}`;
  }
}

const numeric = (record: Record<string, number | null>) =>
  Object.fromEntries(Object.entries(record).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));

/** The bootstrap bounds of the test metrics (absent from evaluations made before them). */
function intervalMetrics(intervals: CandidateMetrics['intervals'] | undefined): Record<string, number> {
  if (!intervals) return {};
  return {
    average_precision_low: intervals.averagePrecision.low,
    average_precision_high: intervals.averagePrecision.high,
    card_precision_at_100_low: intervals.cardPrecisionAt100.low,
    card_precision_at_100_high: intervals.cardPrecisionAt100.high,
    interval_level: intervals.averagePrecision.level,
  };
}

/** The paired bootstrap of the AP gain over the champion on the same rows. */
function gainMetrics(gain: PairedGain | undefined): Record<string, number> {
  if (!gain) return {};
  return {
    champion_ap_gain: gain.averagePrecision,
    champion_ap_gain_lower_bound: gain.lowerBound,
    champion_ap_gain_level: gain.level,
    champion_ap_gain_probability_positive: gain.probabilityPositive,
  };
}

export function createRegisterActivities(deps: ActivityDeps) {
  const { config, mlflow } = deps;
  const model = config.registry.modelName;
  const bucket = config.stack.s3.bucket;
  const registry = { mlflow, s3: deps.s3, bucket };
  const version = codeVersion();

  return {
    async registerCandidate(input: RegisterInput): Promise<RegisteredCandidate> {
      const noise = input.train.spent?.noise;
      if (noise && !noise.secret) {
        throw ApplicationFailure.nonRetryable(
          `train.spent.noise: the DP noise is not secret (${noise.method}, replayable from a public seed); such a model is never registered`,
          'InsecureNoise',
        );
      }
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const { run, experimentId } = await pipelineRun(deps, workflowId, input.dataset.sha256);
      const { metrics: m, champion } = input.evaluation;
      const o = input.settings.options;
      await mlflow.logBatch(run.info.run_id, {
        params: {
          code_version: version,
          dataset_sha256: input.dataset.sha256,
          dataset_rows: input.dataset.rows,
          dataset_end_offsets: JSON.stringify(input.dataset.endOffsets),
          train_period: `${input.split.periods.train.from}..${input.split.periods.train.to}`,
          validation_period: `${input.split.periods.validation.from}..${input.split.periods.validation.to}`,
          test_period: `${input.split.periods.test.from}..${input.split.periods.test.to}`,
          label_delay_days: input.split.protocol.delayDays,
          dp: o.dp,
          family: o.family ?? 'mlp',
          ...(o.family === 'ebm' ? { ebm: JSON.stringify(ebmSettingsOf(o.dp, o.ebm)) } : {}),
          balance: o.balance,
          hidden: JSON.stringify(hiddenLayersOf(o.family, o.hidden)),
          epochs: o.epochs,
          learning_rate: o.learningRate,
          optimizer: o.optimizer,
          averaging: o.averaging ?? 'none',
          clip_norm: o.clipNorm,
          clipping: o.clipping ?? 'flat',
          target_epsilon: o.targetEpsilon,
          privacy_unit: m.privacyUnit ?? 'none',
          accountant: o.accountant,
          transform: o.transform,
          train_device: input.train.device,
          bundle_sha256: input.evaluation.bundleSha256,
        },
        metrics: {
          ...numeric({
            average_precision: m.averagePrecision,
            roc_auc: m.aucRoc,
            card_precision_at_100: m.cardPrecisionAt100,
            ...intervalMetrics(m.intervals),
            f2_validation: m.f2Validation,
            threshold: m.threshold,
            epsilon: m.epsilon,
            delta: m.delta,
            lifetime_epsilon: m.lifetimeEpsilon,
            per_record_epsilon: m.perRecordEpsilon,
            noise_multiplier: m.noiseMultiplier,
            sampling_rate: m.samplingRate,
            steps: m.steps,
            champion_average_precision: champion?.averagePrecision ?? null,
            ...gainMetrics(champion?.gain),
            train_rows: input.split.rows.train,
            train_examples: input.training.examples,
            test_rows: input.split.rows.test,
            train_attempt: input.train.attempt,
            resumed_from_step: input.train.resumedFromStep,
          }),
          ...Object.fromEntries(Object.entries(input.timings).map(([step, seconds]) => [`seconds_${step}`, seconds])),
        },
      });
      const files = await loadBundleFilesFromS3(deps.s3, bucket, input.evaluation.bundleKey);
      for (const [name, content] of files) await mlflow.uploadArtifact(run.info, `model/${name}`, content);
      await mlflow.uploadArtifact(run.info, 'validation/report.json', await getRunObject(deps, input.validation.reportKey));
      await mlflow.uploadArtifact(run.info, 'validation/report.html', await getRunObject(deps, input.validation.htmlKey));
      const registered = await registerBundleVersion(registry, model, files, {
        runId: run.info.run_id,
        tags: { [VERSION_TAGS.datasetSha256]: input.dataset.sha256, [VERSION_TAGS.workflowId]: workflowId },
        description: `AP ${m.averagePrecision.toFixed(3)}, ε ${m.epsilon?.toFixed(2) ?? 'none'} on ${input.split.periods.test.from}..${input.split.periods.test.to}`,
      });
      if (run.info.status !== 'FINISHED') await mlflow.finishRun(run.info.run_id);
      deps.log.info({ version: registered.version, run: run.info.run_id }, 'candidate registered');
      return { version: registered.version, runId: run.info.run_id, experimentId };
    },

    async recordDecision(input: { version: string; outcome: PromotionOutcome }): Promise<void> {
      const { outcome } = input;
      const tags: Record<string, string> = {
        [VERSION_TAGS.decision]: outcome.decision,
        [VERSION_TAGS.decidedAt]: outcome.decidedAt,
        decision_via: outcome.via,
      };
      if (outcome.approver) tags[VERSION_TAGS.approver] = outcome.approver;
      if (outcome.reason) tags[VERSION_TAGS.reason] = outcome.reason;
      for (const [key, value] of Object.entries(tags)) await mlflow.setModelVersionTag(model, input.version, key, value);
    },

    async promoteCandidate(input: { version: string }): Promise<{ champion: string; previous: string | null; changed: boolean }> {
      // The bundle must still verify before it serves.
      await bundleOfVersion(deps.s3, bucket, await mlflow.getModelVersion(model, input.version));
      const event = await promoteVersion({ mlflow, kafka: deps.kafka, topic: config.topics.modelEvents }, model, input.version);
      return { champion: input.version, previous: event?.previous ?? null, changed: event !== null };
    },
  };
}
