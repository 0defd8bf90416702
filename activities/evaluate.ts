// Step 6: threshold by F2 on validation, test metrics at it with bootstrap intervals, the champion scored on the same
// test rows (a paired bootstrap of the AP gain, what the auto-approve policy reads), PR/ROC/threshold plots, the privacy report, and the candidate's verified bundle in S3. The bundle's
// drift reference (the validation step's public-bin counts) is named in the report, with everything else released
// without noise.
import { saveBundleToS3 } from '../clients/bundle-store';
import { bundleKeyFor, championBundle } from '../clients/model-registry';
import { loadSnapshot } from '../clients/snapshot-store';
import { type MetricIntervals, type PairedGain, pairedBootstrap } from '../ml/bootstrap';
import { loadBundle, packBundle, REFERENCE_FILE, verifyBundle } from '../ml/bundle';
import type { PrivacySpent } from '../ml/dpsgd';
import { evaluateModel, testMetrics } from '../ml/experiment';
import { precisionRecallCurve, rocCurve, thresholdCurve } from '../ml/metrics';
import { renderPrSvg, renderRocSvg, renderThresholdSvg } from '../ml/plots';
import type { LifetimeSpent, PrivacyReport, ReleasedItem } from '../ml/privacy/report';
import { cardTerminalInfluence, type TerminalInfluence } from '../ml/privacy/terminal-influence';
import { type ProtocolOptions, protocolSplit } from '../ml/protocol';
import { applyTransform } from '../ml/transforms';
import { isPublicReference, referenceRelease } from '../ml/validation/public-reference';
import { resolveDeclaration } from '../records';
import { loadTraining, type TrainingSetRef } from './balance';
import { type ActivityDeps, getRunObject } from './deps';
import { loadSplit, type SplitRef } from './features';
import type { DatasetRef } from './ingest';
import { decodeModel, predictModel } from './model-file';
import type { TrainResult } from './train';
import type { ValidationRef } from './validate';

export interface CandidateMetrics {
  averagePrecision: number;
  aucRoc: number;
  cardPrecisionAt100: number;
  /** Percentile bootstrap intervals of AP and CP@100 over resampled test cards. */
  intervals: MetricIntervals;
  f2Validation: number;
  threshold: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  epsilon: number | null;
  delta: number | null;
  /** The ledger's composed ε at the worst day or card (EvaluateInput.lifetime), or null. */
  lifetimeEpsilon: number | null;
  privacyUnit: 'transaction' | 'card' | null;
  perRecordEpsilon: number | null;
  noiseMultiplier: number | null;
  samplingRate: number | null;
  steps: number;
}

export interface EvaluationRef {
  bundleKey: string;
  bundleSha256: string;
  metrics: CandidateMetrics;
  /** The champion on the same test rows, or null when there is none. */
  champion: {
    version: string;
    averagePrecision: number;
    aucRoc: number;
    cardPrecisionAt100: number;
    /** AP(candidate) − AP(champion) by a paired bootstrap on these rows; absent in runs evaluated before it existed. */
    gain?: PairedGain;
  } | null;
  privacyCovered: boolean;
}

export interface EvaluateInput {
  split: SplitRef;
  training: TrainingSetRef;
  train: TrainResult;
  validation: ValidationRef;
  labelDelayDays: number;
  /** The workflow's time, so that a retried evaluation packs the same bundle. */
  createdAt: string;
  /** The ledger's composed (ε, δ) at the worst event day or card, this run included; absent: "this run alone". */
  lifetime?: LifetimeSpent;
  /** The snapshot: with the card unit, the report measures a card's reach into other cards' rows from it. */
  dataset?: DatasetRef;
  /** Confidence level of the paired bootstrap's lower bound (pipeline.approval.autoApprove.confidence); default 0.95. */
  confidence?: number;
}

/** What register uploads to the MLflow run besides the bundle, named in the report because it is exact. */
const VALIDATION_REPORT_RELEASE: ReleasedItem = {
  name: 'validation/report.json',
  statement:
    'The data validation report uploaded to the MLflow run (validation/report.json and report.html): exact statistics (min, max, ' +
    'percentiles, histograms, rule violations with example ids) of every row of the snapshot, training rows included.',
};

function candidateMetrics(evaluation: ReturnType<typeof evaluateModel>, privacy: PrivacyReport, steps: number): CandidateMetrics {
  const { test, validation } = evaluation;
  return {
    averagePrecision: test.averagePrecision,
    aucRoc: test.aucRoc,
    cardPrecisionAt100: test.cardPrecisionAt100,
    intervals: test.intervals,
    f2Validation: validation.f2,
    threshold: test.threshold,
    confusion: test.confusion,
    epsilon: privacy.perExample?.epsilon ?? null,
    delta: privacy.perExample?.delta ?? null,
    lifetimeEpsilon: privacy.lifetime?.epsilon ?? null,
    privacyUnit: privacy.unit?.name ?? null,
    perRecordEpsilon: privacy.perRecord?.epsilon ?? null,
    noiseMultiplier: privacy.training?.noiseMultiplier ?? null,
    samplingRate: privacy.training?.samplingRate ?? null,
    steps,
  };
}

export function createEvaluateActivities(deps: ActivityDeps) {
  const bucket = deps.config.stack.s3.bucket;

  /** The champion's metrics on the candidate's test rows, and the paired bootstrap of the candidate's AP gain over it. */
  async function scoreChampion(
    split: Awaited<ReturnType<typeof loadSplit>>,
    candidateScores: Float32Array,
    confidence: number | undefined,
  ): Promise<EvaluationRef['champion']> {
    const champion = await championBundle({ mlflow: deps.mlflow, s3: deps.s3, bucket }, deps.config.registry.modelName);
    if (!champion) return null;
    const loaded = await loadBundle(champion.files);
    try {
      // A champion of another declaration takes other inputs: it cannot score these rows, so there is no comparison.
      if (loaded.features.names.join('\u0000') !== split.features.names.join('\u0000')) return null;
      const scores = loaded.predict(split.test.x, split.test.rows);
      const gain = pairedBootstrap(split.test, scores, candidateScores, confidence === undefined ? {} : { level: confidence });
      return { version: champion.version.version, ...pick(testMetrics(split.test, scores)), gain };
    } finally {
      loaded.dispose();
    }
  }

  /** Card unit: per card, the other cards' training rows its transactions reach through the terminal windows. */
  async function cardReach(dataset: DatasetRef, protocol: ProtocolOptions): Promise<TerminalInfluence> {
    const location = { bucket, prefix: dataset.prefix, sha256: dataset.sha256 };
    const { columns } = await loadSnapshot(deps.s3, location, resolveDeclaration(deps.config.records));
    return cardTerminalInfluence(columns, protocolSplit(columns, protocol).train, protocol.delayDays);
  }

  return {
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluationRef> {
      const [split, training, modelBytes, referenceBytes] = await Promise.all([
        loadSplit(deps, input.split.key),
        loadTraining(deps, input.training.key),
        getRunObject(deps, input.train.modelKey),
        getRunObject(deps, input.validation.referenceKey),
      ]);
      const model = decodeModel(modelBytes);
      const score = (x: Float64Array, rows: number) => predictModel(model, applyTransform(training.transform, x, rows), rows);
      const spent: PrivacySpent | null = input.train.spent;
      const reference: unknown = JSON.parse(referenceBytes.toString('utf8'));
      if (!isPublicReference(reference)) throw new Error(`${input.validation.referenceKey}: not a public-bin reference`);
      const measureReach = spent?.unit === 'card' && input.dataset;
      const evaluation = evaluateModel(score, split, {
        spent,
        ...training,
        assumptions: [...training.assumptions, ...(input.train.assumptions ?? [])],
        lifetime: input.lifetime,
        terminalInfluence: measureReach ? await cardReach(measureReach, input.split.protocol) : undefined,
        released: [referenceRelease(reference, spent?.unit ?? null), VALIDATION_REPORT_RELEASE],
      });
      const champion = await scoreChampion(split, evaluation.testScores, input.confidence);
      const metrics = candidateMetrics(evaluation, evaluation.privacy, input.train.steps);
      const { test } = split;
      const scores = evaluation.testScores;
      const files = await packBundle({
        model,
        transform: training.transform,
        features: split.features,
        labelDelayDays: input.labelDelayDays,
        threshold: metrics.threshold,
        metrics: { test: metrics, champion, periods: split.periods },
        privacy: evaluation.privacy,
        extraFiles: [
          [REFERENCE_FILE, new Uint8Array(referenceBytes)],
          [
            'plots/pr.svg',
            renderPrSvg([{ name: 'candidate', curve: precisionRecallCurve(test.y, scores), ap: metrics.averagePrecision }], {
              prevalence: input.split.frauds.test / Math.max(1, test.rows),
            }),
          ],
          ['plots/roc.svg', renderRocSvg([{ name: 'candidate', curve: rocCurve(test.y, scores), auc: metrics.aucRoc }])],
          ['plots/threshold.svg', renderThresholdSvg(thresholdCurve(test.y, scores))],
        ],
        createdAt: input.createdAt,
      });
      const manifest = await saveBundleToS3(deps.s3, bucket, bundleKeyFor(verifyBundle(files).bundleSha256), files);
      deps.log.info({ bundle: manifest.bundleSha256, ap: metrics.averagePrecision, champion }, 'candidate evaluated');
      return {
        bundleKey: bundleKeyFor(manifest.bundleSha256),
        bundleSha256: manifest.bundleSha256,
        metrics,
        champion,
        privacyCovered: evaluation.privacy.covered,
      };
    },
  };
}

const pick = ({ averagePrecision, aucRoc, cardPrecisionAt100 }: ReturnType<typeof testMetrics>) => ({
  averagePrecision,
  aucRoc,
  cardPrecisionAt100,
});
