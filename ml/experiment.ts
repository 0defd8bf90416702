// One offline experiment, in process: features → time split (handbook protocol) → transform → balance →
// train (DP-SGD or not) → threshold on validation → test metrics → privacy report. The pipeline's
// activities run the same steps one by one.
import { DpSgdTrainer, type MlpParameters, predictMlp, type TrainerOptions, type TrainingProgress } from './dpsgd';
import { InvalidInputError } from './errors';
import { computeColumnFeatures, FEATURE_COUNT } from './features';
import { averagePrecision, bestFbetaThreshold, type ConfusionMatrix, cardPrecisionAtK, confusionMatrix, rocAuc } from './metrics';
import type { Accountant } from './privacy';
import { buildPrivacyReport, type PreprocessingStep, type PrivacyReport } from './privacy/report';
import { type LabelledTransactions, type ProtocolOptions, type ProtocolSplit, protocolSplit } from './protocol';
import { smote } from './smote';
import { applyTransform, fitTransform, type TransformKind, type TransformSpec, transformStep } from './transforms';

export const BALANCE_STRATEGIES = ['smote', 'class-weight', 'stratified', 'none'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];

export interface ExperimentOptions {
  protocol: ProtocolOptions;
  balance: BalanceStrategy;
  /** SMOTE's target minority/majority ratio. */
  smoteRatio: number;
  smoteK: number;
  dp: boolean;
  targetEpsilon: number;
  delta: number;
  accountant: Accountant;
  clipNorm: number;
  /** Poisson sampling rate per step (DP); for stratified sampling, the expected batch share stays the same. */
  samplingRate: number;
  /** Mini-batch size of non-private training. */
  batchSize: number;
  hidden: number[];
  epochs: number;
  learningRate: number;
  learningRateDecay?: 'none' | 'cosine';
  optimizer: 'sgd' | 'adam';
  /** fixed: data-independent (the only choice under DP); standard: a scaler fitted on the training split. */
  transform: TransformKind;
  seed: number;
}

export interface SplitMetrics {
  rows: number;
  frauds: number;
  aucRoc: number;
  averagePrecision: number;
}

export interface ExperimentResult {
  data: {
    periods: ProtocolSplit['periods'];
    train: { rows: number; frauds: number; examplesAfterBalance: number };
    validation: { rows: number; frauds: number };
    test: { rows: number; frauds: number; removedKnownCompromised: number };
  };
  test: SplitMetrics & { cardPrecisionAt100: number; threshold: number; confusion: ConfusionMatrix };
  validation: SplitMetrics & { f2: number };
  privacy: PrivacyReport;
  model: { parameters: MlpParameters; transform: TransformSpec; threshold: number; labelDelayDays: number };
  /** Scores on the test rows, for plots. */
  testScores: { labels: Uint8Array; scores: Float32Array };
  seconds: Record<'features' | 'balance' | 'train' | 'evaluate' | 'total', number>;
}

function checkOptions(o: ExperimentOptions): void {
  const rule = (ok: boolean, field: string, text: string) => {
    if (!ok) throw new InvalidInputError(`${field} = ${JSON.stringify(o[field as keyof ExperimentOptions])}: ${text}`);
  };
  rule(BALANCE_STRATEGIES.includes(o.balance), 'balance', `must be one of ${BALANCE_STRATEGIES.join(', ')}`);
  rule(!(o.dp && o.transform === 'standard'), 'transform', 'a fitted scaler reads the data outside the DP budget; use fixed with --dp on');
  rule(
    !(o.balance === 'stratified' && !o.dp),
    'balance',
    'stratified means class-stratified Poisson sampling, which DP-SGD does; use class-weight without DP',
  );
}

const nowSeconds = () => performance.now() / 1000;

/** Rows × 15 features of the selected rows, from features computed once over the whole timeline. */
function gather(features: Float64Array, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length * FEATURE_COUNT);
  rows.forEach((row, i) => {
    out.set(features.subarray(row * FEATURE_COUNT, (row + 1) * FEATURE_COUNT), i * FEATURE_COUNT);
  });
  return out;
}

const labelsOf = (data: LabelledTransactions, rows: readonly number[]) => Uint8Array.from(rows, (row) => data.fraud[row]);
const count = (labels: Uint8Array) => labels.reduce((sum, v) => sum + v, 0);

/** The features of every transaction up to the end of the test period (unlabelled ones count as genuine). */
export function timelineFeatures(data: LabelledTransactions, end: number, labelDelayDays: number): Float64Array {
  let n = 0;
  while (n < data.rows && data.timestamp[n] < end) n++;
  return computeColumnFeatures(data, n, labelDelayDays);
}

export async function runExperiment(
  data: LabelledTransactions,
  options: ExperimentOptions,
  onProgress?: (progress: TrainingProgress) => void,
): Promise<ExperimentResult> {
  checkOptions(options);
  const started = nowSeconds();
  const split = protocolSplit(data, options.protocol);
  const features = timelineFeatures(data, split.end, options.protocol.delayDays);
  const featuresDone = nowSeconds();

  const trainRaw = gather(features, split.train);
  const trainLabels = labelsOf(data, split.train);
  const trainFrauds = count(trainLabels);
  if (trainFrauds === 0 || trainFrauds === trainLabels.length) {
    const { from, to } = split.periods.train;
    throw new InvalidInputError(
      `the training period ${from} to ${to} has a single class (${trainFrauds} frauds of ${trainLabels.length}); both are needed`,
    );
  }
  const transform = fitTransform(options.transform, trainRaw, split.train.length);
  const steps: PreprocessingStep[] = [transformStep(transform)];
  let x = applyTransform(transform, trainRaw, split.train.length);
  let y: Uint8Array = trainLabels;
  let influence: Uint32Array | undefined;
  if (options.balance === 'smote') {
    const balanced = smote(
      { x: Float64Array.from(x), y, rows: split.train.length, cols: FEATURE_COUNT },
      { ratio: options.smoteRatio, k: options.smoteK, seed: options.seed },
    );
    x = Float32Array.from(balanced.x);
    y = balanced.y;
    influence = Uint32Array.from(balanced.influence);
    steps.push({
      name: 'SMOTE',
      treatment: 'group-privacy',
      description: `k = ${options.smoteK}, ratio ${options.smoteRatio}: ${balanced.synthetic} synthetic rows interpolated between training records`,
    });
  }
  const balanceDone = nowSeconds();

  const positives = count(y);
  const negatives = y.length - positives;
  const trainerOptions: TrainerOptions = {
    hidden: options.hidden,
    epochs: options.epochs,
    learningRate: options.learningRate,
    learningRateDecay: options.learningRateDecay,
    optimizer: options.optimizer,
    positiveWeight: options.balance === 'class-weight' ? negatives / Math.max(1, positives) : 1,
    seed: options.seed,
    privacy: options.dp
      ? {
          mode: 'dp',
          clipNorm: options.clipNorm,
          delta: options.delta,
          targetEpsilon: options.targetEpsilon,
          accountant: options.accountant,
          samplingRate:
            options.balance === 'stratified' ? stratifiedRates(options.samplingRate, positives, negatives) : options.samplingRate,
        }
      : { mode: 'off', batchSize: options.batchSize },
  };
  const trainer = DpSgdTrainer.create({ x, y, rows: y.length, cols: FEATURE_COUNT }, trainerOptions);
  let parameters: MlpParameters;
  let spent: ReturnType<DpSgdTrainer['privacySpent']>;
  try {
    parameters = await trainer.run(onProgress);
    spent = trainer.privacySpent();
  } finally {
    trainer.dispose();
  }
  const trainDone = nowSeconds();

  const score = (rows: readonly number[]) =>
    predictMlp(parameters, applyTransform(transform, gather(features, rows), rows.length), rows.length);
  const validationLabels = labelsOf(data, split.validation);
  const validationScores = score(split.validation);
  const best = bestFbetaThreshold(validationLabels, validationScores, 2);
  const testLabels = labelsOf(data, split.test);
  const testScores = score(split.test);
  const cards = split.test.map((row, i) => ({
    customerId: data.customerId[row],
    day: split.testDay[i],
    score: testScores[i],
    label: testLabels[i],
  }));
  const privacy = buildPrivacyReport({
    spent,
    records: split.train.length,
    influence,
    preprocessing: steps,
    threshold: { value: best.threshold, split: `validation (${split.periods.validation.from} to ${split.periods.validation.to})` },
  });
  const done = nowSeconds();
  return {
    data: {
      periods: split.periods,
      train: { rows: split.train.length, frauds: count(trainLabels), examplesAfterBalance: y.length },
      validation: { rows: split.validation.length, frauds: count(validationLabels) },
      test: { rows: split.test.length, frauds: count(testLabels), removedKnownCompromised: split.removedKnownCompromised },
    },
    test: {
      rows: split.test.length,
      frauds: count(testLabels),
      aucRoc: rocAuc(testLabels, testScores),
      averagePrecision: averagePrecision(testLabels, testScores),
      cardPrecisionAt100: cardPrecisionAtK(cards, 100).mean,
      threshold: best.threshold,
      confusion: confusionMatrix(testLabels, testScores, best.threshold),
    },
    validation: {
      rows: split.validation.length,
      frauds: count(validationLabels),
      aucRoc: rocAuc(validationLabels, validationScores),
      averagePrecision: averagePrecision(validationLabels, validationScores),
      f2: best.fbeta,
    },
    privacy,
    model: { parameters, transform, threshold: best.threshold, labelDelayDays: options.protocol.delayDays },
    testScores: { labels: testLabels, scores: testScores },
    seconds: {
      features: featuresDone - started,
      balance: balanceDone - featuresDone,
      train: trainDone - balanceDone,
      evaluate: done - trainDone,
      total: done - started,
    },
  };
}

/**
 * Class-stratified Poisson rates with the same expected batch as rate q over all rows, half of it
 * positives (capped at rate 1): the minority is seen far more often without synthetic data.
 */
export function stratifiedRates(q: number, positives: number, negatives: number): { positive: number; negative: number } {
  const expected = q * (positives + negatives);
  const positive = Math.min(1, expected / 2 / Math.max(1, positives));
  const negative = Math.min(1, (expected - positive * positives) / Math.max(1, negatives));
  return { positive, negative };
}
