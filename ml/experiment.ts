// One offline experiment, in process: features → time split (handbook protocol) → transform → balance →
// train (DP-SGD or not) → threshold on validation → test metrics → privacy report. The pipeline's
// activities run the same steps one by one.

import type { Scalar } from '../records';
import { DpSgdTrainer, type MlpParameters, type PrivacySpent, predictMlp, type TrainerOptions, type TrainingProgress } from './dpsgd';
import { InvalidInputError } from './errors';
import { type FeatureSet, HANDBOOK_FEATURE_SET, widenFeatures } from './feature-set';
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
  /** The model's inputs (from the record declaration); the handbook's 15 features by default. */
  features?: FeatureSet;
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
  model: { parameters: MlpParameters; transform: TransformSpec; features: FeatureSet; threshold: number; labelDelayDays: number };
  /** Scores on the test rows, for plots. */
  testScores: { labels: Uint8Array; scores: Float32Array };
  seconds: Record<'features' | 'balance' | 'train' | 'evaluate' | 'total', number>;
}

export function checkOptions(o: ExperimentOptions): void {
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

/** Rows × inputs of the selected rows, from features computed once over the whole timeline. */
function gather(features: Float64Array, rows: readonly number[], width: number): Float64Array {
  const out = new Float64Array(rows.length * width);
  rows.forEach((row, i) => {
    out.set(features.subarray(row * width, (row + 1) * width), i * width);
  });
  return out;
}

const labelsOf = (data: LabelledTransactions, rows: readonly number[]) => Uint8Array.from(rows, (row) => (data.fraud[row] === 1 ? 1 : 0));
const count = (labels: Uint8Array) => labels.reduce((sum, v) => sum + v, 0);

/** The features of every transaction up to the end of the test period (unlabelled ones count as genuine). */
export function timelineFeatures(data: LabelledTransactions, end: number, labelDelayDays: number): Float64Array {
  let n = 0;
  while (n < data.rows && data.timestamp[n] < end) n++;
  return computeColumnFeatures(data, n, labelDelayDays);
}

/** Raw features (rows × the feature set's inputs) and labels of one split. */
export interface SplitPart {
  rows: number;
  x: Float64Array;
  y: Uint8Array;
}

/** The three splits of the protocol with their raw features: what the features step hands on. */
export interface SplitFeatures {
  /** The inputs of every row of x. */
  features: FeatureSet;
  periods: ProtocolSplit['periods'];
  train: SplitPart;
  validation: SplitPart;
  /** Test rows also carry the card (its id as a string) and the test day, for card precision@100. */
  test: SplitPart & { customerId: string[]; day: Uint16Array };
  removedKnownCompromised: number;
}

/**
 * Features over the timeline, then the protocol's time split (never random; features before splitting). The inputs
 * are the feature set's: the 15 handbook features, then those of the declared columns found in `data.extras`.
 */
export function splitFeatures(
  data: LabelledTransactions & { extras?: Record<string, ArrayLike<Scalar>> },
  protocol: ProtocolOptions,
  set: FeatureSet = HANDBOOK_FEATURE_SET,
): SplitFeatures {
  const split = protocolSplit(data, protocol);
  const core = timelineFeatures(data, split.end, protocol.delayDays);
  const features = widenFeatures(set, core, core.length / FEATURE_COUNT, data.extras ?? {});
  const width = set.names.length;
  const part = (rows: readonly number[]): SplitPart => ({ rows: rows.length, x: gather(features, rows, width), y: labelsOf(data, rows) });
  const train = part(split.train);
  const frauds = count(train.y);
  if (frauds === 0 || frauds === train.rows) {
    const { from, to } = split.periods.train;
    throw new InvalidInputError(
      `the training period ${from} to ${to} has a single class (${frauds} frauds of ${train.rows}); both are needed`,
    );
  }
  return {
    features: set,
    periods: split.periods,
    train,
    validation: part(split.validation),
    test: {
      ...part(split.test),
      customerId: split.test.map((row) => data.customerId[row]),
      day: Uint16Array.from(split.testDay),
    },
    removedKnownCompromised: split.removedKnownCompromised,
  };
}

/** The training examples after the input transform and balancing: what the trainer reads. */
export interface BalancedTraining {
  x: Float32Array;
  y: Uint8Array;
  rows: number;
  /** Training records in the split (before balancing): the privacy unit. */
  records: number;
  /** Per training record, how many training examples it shaped (SMOTE only). */
  influence?: Uint32Array;
  transform: TransformSpec;
  preprocessing: PreprocessingStep[];
}

export type BalanceOptions = Pick<ExperimentOptions, 'balance' | 'smoteRatio' | 'smoteK' | 'transform' | 'seed' | 'dp'>;

/** Fits the input transform on the training split, applies it, and balances the classes (SMOTE adds synthetic rows). */
export function balanceTraining(train: SplitPart, options: BalanceOptions, set: FeatureSet = HANDBOOK_FEATURE_SET): BalancedTraining {
  const transform = fitTransform(options.transform, train.x, train.rows, set);
  const preprocessing: PreprocessingStep[] = [transformStep(transform)];
  const x = applyTransform(transform, train.x, train.rows);
  if (options.balance !== 'smote') return { x, y: train.y, rows: train.rows, records: train.rows, transform, preprocessing };
  const balanced = smote(
    { x: Float64Array.from(x), y: train.y, rows: train.rows, cols: set.names.length },
    { ratio: options.smoteRatio, k: options.smoteK, seed: options.seed },
  );
  preprocessing.push({
    name: 'SMOTE',
    treatment: 'group-privacy',
    description: `k = ${options.smoteK}, ratio ${options.smoteRatio}: ${balanced.synthetic} synthetic rows interpolated between training records`,
  });
  return {
    x: Float32Array.from(balanced.x),
    y: balanced.y,
    rows: balanced.y.length,
    records: train.rows,
    influence: Uint32Array.from(balanced.influence),
    transform,
    preprocessing,
  };
}

/** The trainer's options for the experiment's settings and the balanced classes. */
export function trainerOptionsFor(options: Omit<ExperimentOptions, 'protocol'>, positives: number, negatives: number): TrainerOptions {
  return {
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
}

export interface Evaluation {
  test: ExperimentResult['test'];
  validation: ExperimentResult['validation'];
  privacy: PrivacyReport;
  testScores: Float32Array;
}

/** Threshold by F2 on validation, then the test metrics at it, and the privacy report of the whole run. */
export function evaluateModel(
  score: (x: Float64Array, rows: number) => Float32Array,
  splits: Pick<SplitFeatures, 'validation' | 'test' | 'periods'>,
  privacy: { spent: PrivacySpent | null; records: number; influence?: Uint32Array; preprocessing: PreprocessingStep[] },
): Evaluation {
  const { validation, test, periods } = splits;
  const validationScores = score(validation.x, validation.rows);
  const best = bestFbetaThreshold(validation.y, validationScores, 2);
  const testScores = score(test.x, test.rows);
  return {
    test: { ...testMetrics(test, testScores), threshold: best.threshold, confusion: confusionMatrix(test.y, testScores, best.threshold) },
    validation: {
      rows: validation.rows,
      frauds: count(validation.y),
      aucRoc: rocAuc(validation.y, validationScores),
      averagePrecision: averagePrecision(validation.y, validationScores),
      f2: best.fbeta,
    },
    privacy: buildPrivacyReport({
      ...privacy,
      threshold: { value: best.threshold, split: `validation (${periods.validation.from} to ${periods.validation.to})` },
    }),
    testScores,
  };
}

/** Ranking metrics of scores on the test split (also used to score the champion on the same rows). */
export function testMetrics(test: SplitFeatures['test'], scores: Float32Array): SplitMetrics & { cardPrecisionAt100: number } {
  const cards = Array.from(scores, (score, i) => ({ customerId: test.customerId[i], day: test.day[i], score, label: test.y[i] }));
  return {
    rows: test.rows,
    frauds: count(test.y),
    aucRoc: rocAuc(test.y, scores),
    averagePrecision: averagePrecision(test.y, scores),
    cardPrecisionAt100: cardPrecisionAtK(cards, 100).mean,
  };
}

export async function runExperiment(
  data: LabelledTransactions,
  options: ExperimentOptions,
  onProgress?: (progress: TrainingProgress) => void,
): Promise<ExperimentResult> {
  checkOptions(options);
  const started = nowSeconds();
  const set = options.features ?? HANDBOOK_FEATURE_SET;
  const splits = splitFeatures(data, options.protocol, set);
  const featuresDone = nowSeconds();
  const training = balanceTraining(splits.train, options, set);
  const balanceDone = nowSeconds();

  const trainer = DpSgdTrainer.create(
    { x: training.x, y: training.y, rows: training.rows, cols: set.names.length },
    trainerOptionsFor(options, count(training.y), training.rows - count(training.y)),
  );
  let parameters: MlpParameters;
  let spent: PrivacySpent | null;
  try {
    parameters = await trainer.run(onProgress);
    spent = trainer.privacySpent();
  } finally {
    trainer.dispose();
  }
  const trainDone = nowSeconds();

  const score = (x: Float64Array, rows: number) => predictMlp(parameters, applyTransform(training.transform, x, rows), rows);
  const evaluation = evaluateModel(score, splits, { spent, ...training });
  const done = nowSeconds();
  return {
    data: {
      periods: splits.periods,
      train: { rows: splits.train.rows, frauds: count(splits.train.y), examplesAfterBalance: training.rows },
      validation: { rows: splits.validation.rows, frauds: count(splits.validation.y) },
      test: { rows: splits.test.rows, frauds: count(splits.test.y), removedKnownCompromised: splits.removedKnownCompromised },
    },
    test: evaluation.test,
    validation: evaluation.validation,
    privacy: evaluation.privacy,
    model: {
      parameters,
      transform: training.transform,
      features: set,
      threshold: evaluation.test.threshold,
      labelDelayDays: options.protocol.delayDays,
    },
    testScores: { labels: splits.test.y, scores: evaluation.testScores },
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
