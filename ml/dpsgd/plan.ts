// What a run will do before it starts: the number of steps, the sampling rates and the noise multiplier (given, or
// calibrated to the target ε), and the ε spent after any number of steps.
import { InvalidInputError } from '../errors';
import { type Accountant, epsilon, noiseMultiplierFor } from '../privacy';
import type { PrivacyUnit, TrainerOptions } from './types';

/** The counts a plan reads: rows and positive rows of the training data, and its cards (needed for the card unit). */
export interface DataCounts {
  rows: number;
  positives: number;
  cards?: number;
}

/** The sampled Gaussian mechanism a DP run composes, known before training and without calibrating σ. */
export interface PlannedMechanism {
  unit: PrivacyUnit;
  /** Rows or cards: the privacy units of the data. */
  units: number;
  /**
   * The rate the accountant composes, per unit. Transaction unit: the largest per-class rate. Under add/remove-one
   * adjacency the output is the mixture (1 − q_x)·M(S) + q_x·M(S ∪ {x}), where S (the sample of the other rows) has
   * the same distribution with or without x, because rows are sampled independently. Only x's own rate q_x enters,
   * and the divergence of that mixture from M(S) (either direction, any order) grows with q_x: a mixture at q' < q is
   * a convex combination of M(S) and the mixture at q, and divergences are jointly convex. So the mechanism at rate
   * max(q_pos, q_neg) bounds every row's loss. Card unit: the card rate q, the same argument with a card's rows as x.
   */
  samplingRate: number;
  steps: number;
  /** Per-class row rates (transaction unit); for the card unit both are the card rate. */
  rates: { negative: number; positive: number };
  /** The public normaliser of the noisy sum: expected sampled units per step (DpOptions.expectedBatchSize). */
  expectedBatchSize: number;
}

/**
 * The mechanism of a DP run on data with these counts (null when the run is not private). Transaction unit:
 * max(1, round(epochs · rows / expectedBatchSize)) steps (round(epochs / q) for one rate q and the default
 * normaliser). Card unit: an epoch samples every card once in expectation, max(1, round(epochs · cards /
 * expectedBatchSize)) steps (round(epochs / q) by default). Pure: the ledger can call it before training.
 */
export function plannedMechanism(options: TrainerOptions, counts: DataCounts): PlannedMechanism | null {
  const privacy = options.privacy;
  if (privacy.mode === 'off') return null;
  const unit = privacy.unit ?? 'transaction';
  const rate = privacy.samplingRate;
  if (unit === 'card') {
    if (typeof rate !== 'number') {
      throw new InvalidInputError(
        'privacy.samplingRate must be one number with privacy.unit card: per-class rates would make a card’s rate depend on its labels (a private fact)',
      );
    }
    const cards = counts.cards;
    if (cards === undefined) throw new InvalidInputError('privacy.unit card needs the number of cards (data.groups)');
    const expectedBatchSize = privacy.expectedBatchSize ?? rate * cards;
    const steps = Math.max(1, Math.round((options.epochs * cards) / expectedBatchSize));
    return { unit, units: cards, samplingRate: rate, steps, rates: { negative: rate, positive: rate }, expectedBatchSize };
  }
  const { rows, positives } = counts;
  const rates = typeof rate === 'number' ? { negative: rate, positive: rate } : { negative: rate.negative, positive: rate.positive };
  const expectedBatchSize = privacy.expectedBatchSize ?? rates.negative * (rows - positives) + rates.positive * positives;
  const steps = Math.max(1, Math.round((options.epochs * rows) / expectedBatchSize));
  return { unit, units: rows, samplingRate: Math.max(rates.negative, rates.positive), steps, rates, expectedBatchSize };
}

export interface PrivacyPlan extends PlannedMechanism {
  clipNorm: number;
  delta: number;
  accountant: Accountant;
  noiseMultiplier: number;
}

export interface TrainingPlan {
  totalSteps: number;
  /** Null when training is not private. */
  privacy: PrivacyPlan | null;
}

/**
 * Non-private: epochs × ⌈rows / batchSize⌉ steps. DP: plannedMechanism, with σ given or calibrated to the target ε.
 * `noiseMultiplier` (from a checkpoint) skips the calibration.
 */
export function planTraining(options: TrainerOptions, counts: DataCounts, noiseMultiplier?: number): TrainingPlan {
  const privacy = options.privacy;
  const mechanism = plannedMechanism(options, counts);
  if (privacy.mode === 'off' || !mechanism)
    return { totalSteps: options.epochs * Math.ceil(counts.rows / (privacy as { batchSize: number }).batchSize), privacy: null };
  const accountant = privacy.accountant ?? 'rdp';
  const sigma =
    noiseMultiplier ??
    privacy.noiseMultiplier ??
    calibrate(mechanism.samplingRate, mechanism.steps, privacy.delta, privacy.targetEpsilon as number, accountant);
  return {
    totalSteps: mechanism.steps,
    privacy: { ...mechanism, clipNorm: privacy.clipNorm, delta: privacy.delta, accountant, noiseMultiplier: sigma },
  };
}

function calibrate(samplingRate: number, steps: number, delta: number, targetEpsilon: number, accountant: Accountant): number {
  try {
    return noiseMultiplierFor({ samplingRate, steps, delta, targetEpsilon, accountant }).noiseMultiplier;
  } catch (err) {
    if (err instanceof RangeError) throw new InvalidInputError(`privacy.targetEpsilon ${targetEpsilon} cannot be reached: ${err.message}`);
    throw err;
  }
}

/** ε at δ after `steps` steps (0 before the first). */
export function epsilonAfter(plan: PrivacyPlan, steps: number): number {
  if (steps === 0) return 0;
  const mechanism = { samplingRate: plan.samplingRate, noiseMultiplier: plan.noiseMultiplier, steps, delta: plan.delta };
  return epsilon(mechanism, plan.accountant).epsilon;
}
