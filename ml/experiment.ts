// One offline experiment, in process: features → time split (handbook protocol) → transform → balance →
// train (DP-SGD or not) → threshold on validation → test metrics → privacy report. The pipeline's
// activities run the same steps one by one.

import type { Scalar } from '../records';
import { type BootstrapOptions, bootstrapIntervals, type MetricIntervals } from './bootstrap';
import {
  AVERAGING_MODES,
  type AveragingMode,
  CLIPPING_MODES,
  type ClippingMode,
  DpSgdTrainer,
  type MlpParameters,
  OPTIMIZERS,
  type OptimizerKind,
  type PrivacySpent,
  predictMlp,
  type TrainerOptions,
  type TrainingProgress,
} from './dpsgd';
import type { PrivacyUnit } from './dpsgd/types';
import { type EbmFamilyOptions, type EbmModel, type EbmSettings, trainEbmFamily } from './ebm';
import { InvalidInputError } from './errors';
import { type FeatureSet, HANDBOOK_FEATURE_SET, widenFeatures } from './feature-set';
import { computeColumnFeatures, FEATURE_COUNT } from './features';
import { averagePrecision, bestFbetaThreshold, type ConfusionMatrix, cardPrecisionAtK, confusionMatrix, rocAuc } from './metrics';
import type { Accountant } from './privacy';
import { buildPrivacyReport, type PreprocessingStep, type PrivacyReport, type PrivacyReportInput } from './privacy/report';
import { cardTerminalInfluence, type TerminalInfluence } from './privacy/terminal-influence';
import { type LabelledTransactions, type ProtocolOptions, type ProtocolSplit, protocolSplit } from './protocol';
import { smote } from './smote';
import { applyTransform, fitTransform, type TransformKind, type TransformSpec, transformStep, transformWidth } from './transforms';

export const BALANCE_STRATEGIES = ['smote', 'class-weight', 'stratified', 'none'] as const;
export type BalanceStrategy = (typeof BALANCE_STRATEGIES)[number];
export const PRIVACY_UNITS = ['transaction', 'card'] as const satisfies readonly PrivacyUnit[];
/**
 * logistic: the DP-SGD trainer with no hidden layer (options.hidden ignored); quadratic: the same over the inputs and
 * their pairwise products (ml/transforms.ts, PAIRWISE_BOUND); mlp: the DP-SGD MLP; ebm: a DP explainable boosting
 * machine (ml/ebm/).
 */
export const MODEL_FAMILIES = ['logistic', 'quadratic', 'mlp', 'ebm'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** The families the DP-SGD trainer trains (the EBM has its own, ml/ebm/). */
export const DP_SGD_FAMILIES: readonly ModelFamily[] = ['logistic', 'quadratic', 'mlp'];

/** The hidden layers a family trains: only the MLP has any (logistic and quadratic are one output unit). */
export const hiddenLayersOf = (family: ModelFamily | undefined, hidden: readonly number[]): number[] =>
  (family ?? 'mlp') === 'mlp' ? [...hidden] : [];

/**
 * The fraud rate the handbook published for its simulated dataset (Le Borgne et al., "Reproducible Machine Learning
 * for Credit Card Fraud Detection – Practical Handbook", chapter 3: 14,681 frauds in 1,754,155 transactions). A public
 * number: under DP the class weight and the stratified rates come from it, never from the private class counts.
 */
export const HANDBOOK_FRAUD_RATE = 14_681 / 1_754_155;

export interface ExperimentOptions {
  protocol: ProtocolOptions;
  /** Which model to train; default 'mlp'. */
  family?: ModelFamily;
  balance: BalanceStrategy;
  /** SMOTE's target minority/majority ratio. */
  smoteRatio: number;
  smoteK: number;
  dp: boolean;
  /** DP: what one neighbouring dataset adds or removes, one transaction (default) or one card with all its transactions. */
  privacyUnit?: PrivacyUnit;
  /**
   * A public prior of the fraud rate (default HANDBOOK_FRAUD_RATE). Under DP the class weight (1 − p)/p and the
   * stratified rates derive from it; without DP the class weight is n_neg/n_pos of the training split, as before.
   */
  publicFraudRate?: number;
  /** The positive class weight of balance class-weight, overriding both defaults above. */
  positiveWeight?: number;
  targetEpsilon: number;
  delta: number;
  accountant: Accountant;
  /** DP-SGD: a noise multiplier reserved beforehand (a private search's trial), used instead of calibrating to targetEpsilon. */
  noiseMultiplier?: number;
  clipNorm: number;
  /** Poisson sampling rate per step (DP); for stratified sampling, the expected batch share stays the same. */
  samplingRate: number;
  /** Mini-batch size of non-private training. */
  batchSize: number;
  hidden: number[];
  epochs: number;
  learningRate: number;
  learningRateDecay?: 'none' | 'cosine';
  /** adam-bc: DP-AdamBC, Adam with the DP noise variance removed from its second moment. */
  optimizer: OptimizerKind;
  /** none (default): the last iterate; ema: the moving average of the iterates (no privacy cost). */
  averaging?: AveragingMode;
  /** The EMA's decay with averaging ema (ignored otherwise); default 0.99. */
  emaDecay?: number;
  /** DP: flat (default) or automatic (normalised, Bu et al. 2023) per-unit clipping; both bound a unit by clipNorm. Ignored without DP. */
  clipping?: ClippingMode;
  /** fixed: data-independent (the only choice under DP); standard: a scaler fitted on the training split. */
  transform: TransformKind;
  seed: number;
  /** The model's inputs (from the record declaration); the handbook's 15 features by default. */
  features?: FeatureSet;
  /** family ebm: overrides of EBM_DEFAULTS (ml/ebm/family.ts). */
  ebm?: Partial<EbmSettings>;
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
  test: SplitMetrics & {
    cardPrecisionAt100: number;
    threshold: number;
    confusion: ConfusionMatrix;
    /** Percentile bootstrap intervals over resampled test cards (ml/bootstrap.ts). */
    intervals: MetricIntervals;
  };
  validation: SplitMetrics & { f2: number };
  privacy: PrivacyReport;
  model: {
    parameters: MlpParameters | EbmModel;
    transform: TransformSpec;
    features: FeatureSet;
    threshold: number;
    labelDelayDays: number;
  };
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
  rule(
    !(o.balance === 'smote' && o.dp),
    'balance',
    'smote cannot be combined with DP (dp on): each synthetic row is made from several real ones, so one fraud shapes many ' +
      'training rows outside the per-unit guarantee; use class-weight or stratified',
  );
  rule(o.privacyUnit === undefined || PRIVACY_UNITS.includes(o.privacyUnit), 'privacyUnit', `must be one of ${PRIVACY_UNITS.join(', ')}`);
  rule(
    !(o.balance === 'stratified' && o.privacyUnit === 'card'),
    'balance',
    'stratified cannot be combined with privacyUnit card: a card’s rate would depend on its labels (private); use class-weight',
  );
  const p = o.publicFraudRate;
  rule(p === undefined || (p > 0 && p < 1), 'publicFraudRate', 'must be a fraud rate in (0, 1)');
  const w = o.positiveWeight;
  rule(w === undefined || (w > 0 && Number.isFinite(w)), 'positiveWeight', 'must be a finite number > 0');
  rule(o.family === undefined || MODEL_FAMILIES.includes(o.family), 'family', `must be one of ${MODEL_FAMILIES.join(', ')}`);
  rule(
    !(o.balance === 'smote' && o.family === 'quadratic'),
    'balance',
    'must be class-weight, stratified or none with family quadratic: smote’s interpolated rows would carry products ' +
      'that are not the products of their inputs',
  );
  rule(OPTIMIZERS.includes(o.optimizer), 'optimizer', `must be one of ${OPTIMIZERS.join(', ')}`);
  rule(o.averaging === undefined || AVERAGING_MODES.includes(o.averaging), 'averaging', `must be one of ${AVERAGING_MODES.join(', ')}`);
  rule(o.clipping === undefined || CLIPPING_MODES.includes(o.clipping), 'clipping', `must be one of ${CLIPPING_MODES.join(', ')}`);
  rule(o.emaDecay === undefined || (o.emaDecay > 0 && o.emaDecay < 1), 'emaDecay', 'must be a number in (0, 1)');
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
  /** Training rows also carry their card: an index 0 … cards − 1 of the (pseudonymised) customer ids, in order of first use. */
  train: SplitPart & { card: Int32Array; cards: number };
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
  const train = { ...part(split.train), ...cardIndices(split.train.map((row) => data.customerId[row])) };
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

/** Each id's index, numbered 0 … cards − 1 in order of first appearance. */
function cardIndices(ids: readonly string[]): { card: Int32Array; cards: number } {
  const index = new Map<string, number>();
  const card = Int32Array.from(ids, (id) => {
    let i = index.get(id);
    if (i === undefined) {
      i = index.size;
      index.set(id, i);
    }
    return i;
  });
  return { card, cards: index.size };
}

/** The training examples after the input transform and balancing: what the trainer reads. */
export interface BalancedTraining {
  x: Float32Array;
  y: Uint8Array;
  rows: number;
  /** Training records in the split (before balancing). */
  records: number;
  /** Per example, its card (0 … cards − 1); absent after SMOTE, whose synthetic rows belong to no card. */
  groups?: Int32Array;
  /** Cards among the training records. */
  cards: number;
  /** Per training record, how many training examples it shaped (SMOTE only). */
  influence?: Uint32Array;
  transform: TransformSpec;
  preprocessing: PreprocessingStep[];
  /** What the privacy guarantee of a model trained on these examples rests on (see privacyAssumptions). */
  assumptions: string[];
}

export type BalanceOptions = Pick<ExperimentOptions, 'balance' | 'smoteRatio' | 'smoteK' | 'transform' | 'seed' | 'dp'> &
  Partial<Pick<ExperimentOptions, 'privacyUnit' | 'publicFraudRate' | 'positiveWeight' | 'samplingRate' | 'family'>>;

/** Fits the input transform on the training split, applies it, and balances the classes (SMOTE adds synthetic rows). */
export function balanceTraining(
  train: SplitFeatures['train'],
  options: BalanceOptions,
  set: FeatureSet = HANDBOOK_FEATURE_SET,
): BalancedTraining {
  const transform = fitTransform(options.transform, train.x, train.rows, set, { pairwise: options.family === 'quadratic' });
  const preprocessing: PreprocessingStep[] = [transformStep(transform)];
  const x = applyTransform(transform, train.x, train.rows);
  const cards = { cards: train.cards, assumptions: privacyAssumptions(options, train.rows, train.cards) };
  if (options.balance !== 'smote')
    return { x, y: train.y, rows: train.rows, records: train.rows, groups: train.card, ...cards, transform, preprocessing };
  const balanced = smote(
    { x: Float64Array.from(x), y: train.y, rows: train.rows, cols: transformWidth(transform) },
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
    ...cards,
    transform,
    preprocessing,
  };
}

const percent = (p: number) => `${(100 * p).toPrecision(3)} %`;

/** The class weight of balance class-weight: given, else (1 − p)/p of the public fraud rate under DP, else n_neg/n_pos. */
export function classWeight(
  options: Pick<ExperimentOptions, 'dp' | 'positiveWeight' | 'publicFraudRate'>,
  positives: number,
  negatives: number,
): number {
  if (options.positiveWeight !== undefined) return options.positiveWeight;
  if (!options.dp) return negatives / Math.max(1, positives);
  const p = options.publicFraudRate ?? HANDBOOK_FRAUD_RATE;
  return (1 - p) / p;
}

/**
 * The public choices a DP run rests on, one sentence each, for the privacy report: the count of privacy units, the
 * class weight or stratified rates (public numbers, never the private class counts) and, for the card unit, what a
 * card is. Empty without DP (nothing is claimed then).
 */
export function privacyAssumptions(options: BalanceOptions, rows: number, cards: number): string[] {
  if (!options.dp) return [];
  const unit = options.privacyUnit ?? 'transaction';
  const p = options.publicFraudRate ?? HANDBOOK_FRAUD_RATE;
  const prior =
    options.publicFraudRate === undefined ? `the handbook's published fraud rate ${percent(p)}` : `the configured fraud rate ${percent(p)}`;
  const [n, name] = unit === 'card' ? [cards, 'cards'] : [rows, 'training rows'];
  // The EBM samples nothing and weighs no class: its histograms cover every unit, its step scale is the public rate.
  if (options.family === 'ebm')
    return [
      `The number of privacy units (${n} ${name}) is treated as public and released without noise (DP-EBM reads only noisy counts).`,
      ...(unit === 'card' ? [CARD_ASSUMPTION] : []),
    ];
  const out = [
    `The number of privacy units (${n} ${name}) is treated as public, as Opacus treats N: it sets the normaliser q·N of the ` +
      'noisy gradient sum and the number of steps (epochs / q), and it is released without noise.',
  ];
  if (options.balance === 'class-weight') {
    out.push(
      options.positiveWeight === undefined
        ? `The positive class weight ${classWeight(options, 0, 0).toPrecision(4)} is (1 − p)/p of ${prior} (public), not the private ratio of the training split's classes.`
        : `The positive class weight ${options.positiveWeight} is a configured public number, not the private ratio of the training split's classes.`,
    );
  }
  if (options.balance === 'stratified' && options.samplingRate !== undefined) {
    const rates = stratifiedRates(options.samplingRate, p);
    out.push(
      `Class-stratified sampling rates (positive ${rates.positive.toPrecision(4)}, negative ${rates.negative.toPrecision(4)}) follow from ` +
        `q = ${options.samplingRate} and ${prior} (public); the normaliser is q·N, not the private Σ q_class·n_class.`,
    );
  }
  if (unit === 'card') out.push(CARD_ASSUMPTION);
  return out;
}

const CARD_ASSUMPTION =
  'A card is one pseudonymised customer id of the snapshot (the record declaration): all its transactions in the training ' +
  'window are one privacy unit; a cardholder with several ids (cards) is several units.';

/**
 * trainEbmFamily's options for the experiment's settings (family ebm). Class weights and stratified rates do not apply:
 * the EBM's intercept and step scale are the public fraud rate.
 */
export function ebmOptionsFor(options: Omit<ExperimentOptions, 'protocol'>): EbmFamilyOptions {
  const { dp, privacyUnit, targetEpsilon, delta, seed, ebm } = options;
  return { dp, privacyUnit, targetEpsilon, delta, seed, ebm, baseRate: options.publicFraudRate ?? HANDBOOK_FRAUD_RATE };
}

/** The DP-SGD trainer's options for the experiment's settings (family logistic, quadratic or mlp) and the balanced classes. */
export function trainerOptionsFor(options: Omit<ExperimentOptions, 'protocol'>, positives: number, negatives: number): TrainerOptions {
  const family = options.family ?? 'mlp';
  if (!DP_SGD_FAMILIES.includes(family)) {
    throw new InvalidInputError(`family = "${family}": the DP-SGD trainer trains the ${DP_SGD_FAMILIES.join(', ')} families`);
  }
  return {
    hidden: hiddenLayersOf(family, options.hidden),
    epochs: options.epochs,
    learningRate: options.learningRate,
    learningRateDecay: options.learningRateDecay,
    optimizer: options.optimizer,
    ...(options.averaging === 'ema' ? { averaging: 'ema' as const, emaDecay: options.emaDecay } : {}),
    positiveWeight: options.balance === 'class-weight' ? classWeight(options, positives, negatives) : 1,
    seed: options.seed,
    privacy: options.dp ? dpOptionsFor(options, positives + negatives) : { mode: 'off', batchSize: options.batchSize },
  };
}

/** DP options from public numbers only: the stratified rates from the public fraud rate, the normaliser q·rows. */
function dpOptionsFor(options: Omit<ExperimentOptions, 'protocol'>, rows: number): TrainerOptions['privacy'] {
  const { clipNorm, delta, targetEpsilon, accountant, samplingRate } = options;
  const common = {
    mode: 'dp' as const,
    unit: options.privacyUnit ?? 'transaction',
    clipNorm,
    ...(options.clipping === 'automatic' ? { clipping: 'automatic' as const } : {}),
    delta,
    ...(options.noiseMultiplier === undefined ? { targetEpsilon } : { noiseMultiplier: options.noiseMultiplier }),
    accountant,
  };
  if (options.balance !== 'stratified') return { ...common, samplingRate };
  const rates = stratifiedRates(samplingRate, options.publicFraudRate ?? HANDBOOK_FRAUD_RATE);
  return { ...common, samplingRate: rates, expectedBatchSize: samplingRate * rows };
}

export interface Evaluation {
  test: ExperimentResult['test'];
  validation: ExperimentResult['validation'];
  privacy: PrivacyReport;
  testScores: Float32Array;
}

/** Threshold by F2 on validation, then the test metrics at it (with bootstrap intervals), and the privacy report of the whole run. */
export function evaluateModel(
  score: (x: Float64Array, rows: number) => Float32Array,
  splits: Pick<SplitFeatures, 'validation' | 'test' | 'periods'>,
  /** The report's inputs but the threshold (chosen here): BalancedTraining's assumptions, and the ledger's lifetime etc. */
  privacy: Omit<PrivacyReportInput, 'threshold'>,
  bootstrap: BootstrapOptions = {},
): Evaluation {
  const { validation, test, periods } = splits;
  const validationScores = score(validation.x, validation.rows);
  const best = bestFbetaThreshold(validation.y, validationScores, 2);
  const testScores = score(test.x, test.rows);
  return {
    test: {
      ...testMetrics(test, testScores),
      threshold: best.threshold,
      confusion: confusionMatrix(test.y, testScores, best.threshold),
      intervals: bootstrapIntervals(test, testScores, bootstrap),
    },
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
  const splits = splitFeatures(data, options.protocol, options.features ?? HANDBOOK_FEATURE_SET);
  // With the card unit, the report measures what the guarantee leaves out: a card's reach into other cards' rows.
  const reach =
    options.dp && options.privacyUnit === 'card'
      ? cardTerminalInfluence(data, protocolSplit(data, options.protocol).train, options.protocol.delayDays)
      : undefined;
  const result = await runExperimentOnSplits(splits, options, onProgress, reach);
  const features = nowSeconds() - started - result.seconds.total;
  return { ...result, seconds: { ...result.seconds, features, total: result.seconds.total + features } };
}

/** runExperiment after the features step: for several runs on the same splits (bench/privacy-units.ts). */
export async function runExperimentOnSplits(
  splits: SplitFeatures,
  options: ExperimentOptions,
  onProgress?: (progress: TrainingProgress) => void,
  terminalInfluence?: TerminalInfluence,
): Promise<ExperimentResult> {
  checkOptions(options);
  const set = splits.features;
  const featuresDone = nowSeconds();
  const training = balanceTraining(splits.train, options, set);
  const balanceDone = nowSeconds();

  const { parameters, spent, scoreTransformed, assumptions = [] } = await trainFamily(training, set, options, onProgress);
  const trainDone = nowSeconds();

  const score = (x: Float64Array, rows: number) => scoreTransformed(applyTransform(training.transform, x, rows), rows);
  const evaluation = evaluateModel(score, splits, {
    spent,
    ...training,
    assumptions: [...training.assumptions, ...assumptions],
    terminalInfluence,
  });
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
      features: 0,
      balance: balanceDone - featuresDone,
      train: trainDone - balanceDone,
      evaluate: done - trainDone,
      total: done - featuresDone,
    },
  };
}

/** A trained model of any family: what is released, what DP spent, and its scores of transformed input rows. */
export interface TrainedModel {
  parameters: MlpParameters | EbmModel;
  spent: PrivacySpent | null;
  scoreTransformed: (x: Float32Array | Float64Array, rows: number) => Float32Array;
  /** What this family's guarantee rests on, for the privacy report (beyond BalancedTraining.assumptions). */
  assumptions?: string[];
}

/** Trains options.family (default mlp) on the balanced examples. */
export async function trainFamily(
  training: BalancedTraining,
  set: FeatureSet,
  options: ExperimentOptions,
  onProgress?: (progress: TrainingProgress) => void,
): Promise<TrainedModel> {
  const family = options.family ?? 'mlp';
  switch (family) {
    case 'logistic':
    case 'quadratic':
    case 'mlp':
      return trainDpSgd(training, options, onProgress);
    case 'ebm':
      return trainEbmFamily(training, set, ebmOptionsFor(options));
  }
}

/** logistic, quadratic and mlp: DP-SGD (or its non-private mode) on the manual-backprop MLP; only mlp has hidden layers. */
async function trainDpSgd(
  training: BalancedTraining,
  options: ExperimentOptions,
  onProgress?: (progress: TrainingProgress) => void,
): Promise<TrainedModel> {
  const positives = count(training.y);
  const trainer = DpSgdTrainer.create(
    { x: training.x, y: training.y, rows: training.rows, cols: transformWidth(training.transform), groups: training.groups },
    trainerOptionsFor(options, positives, training.rows - positives),
  );
  try {
    const parameters = await trainer.run(onProgress);
    return { parameters, spent: trainer.privacySpent(), scoreTransformed: (x, rows) => predictMlp(parameters, x, rows) };
  } finally {
    trainer.dispose();
  }
}

/**
 * Class-stratified Poisson rates for a fraud rate p: the same expected batch as rate q over all rows, half of it
 * positives (the positive rate capped at 1), when the data's fraud rate is p. The minority is seen far more often
 * without synthetic data. p is a public prior, so the rates reveal nothing about the training split.
 */
export function stratifiedRates(q: number, fraudRate: number): { positive: number; negative: number } {
  const positive = Math.min(1, q / 2 / fraudRate);
  const negative = Math.min(1, (q - positive * fraudRate) / (1 - fraudRate));
  return { positive, negative };
}
