// What a run will do before it starts: the number of steps, the sampling rates and the noise multiplier (given, or
// calibrated to the target ε), and the ε spent after any number of steps.
import { InvalidInputError } from '../errors';
import { type Accountant, epsilon, noiseMultiplierFor } from '../privacy';
import type { TrainerOptions } from './types';

export interface PrivacyPlan {
  clipNorm: number;
  delta: number;
  accountant: Accountant;
  rates: { negative: number; positive: number };
  /**
   * The rate the accountant composes: the largest per-class rate. Under add/remove-one adjacency the output is the
   * mixture (1 − q_x)·M(S) + q_x·M(S ∪ {x}), where S (the sample of the other rows) has the same distribution with
   * or without x, because rows are sampled independently. Only x's own rate q_x enters, and the divergence of that
   * mixture from M(S) (either direction, any order) grows with q_x: a mixture at q' < q is a convex combination of
   * M(S) and the mixture at q, and divergences are jointly convex. So the mechanism at rate max(q_pos, q_neg) bounds
   * every row's loss. The class counts (in the expected batch size) are treated as public, as N is in Opacus.
   */
  accountingRate: number;
  noiseMultiplier: number;
  /** Σ_r q_r, the normaliser of the noisy gradient sum. */
  expectedBatchSize: number;
}

export interface TrainingPlan {
  totalSteps: number;
  /** Null when training is not private. */
  privacy: PrivacyPlan | null;
}

/**
 * Non-private: epochs × ⌈rows / batchSize⌉ steps. DP: an epoch is rows / (expected batch size) steps, so
 * max(1, round(epochs · rows / Σ_r q_r)) in all (round(epochs / q) for one rate q). `noiseMultiplier` (from a
 * checkpoint) skips the calibration.
 */
export function planTraining(options: TrainerOptions, rows: number, positives: number, noiseMultiplier?: number): TrainingPlan {
  const privacy = options.privacy;
  if (privacy.mode === 'off') return { totalSteps: options.epochs * Math.ceil(rows / privacy.batchSize), privacy: null };
  const rate = privacy.samplingRate;
  const rates = typeof rate === 'number' ? { negative: rate, positive: rate } : { negative: rate.negative, positive: rate.positive };
  const expectedBatchSize = rates.negative * (rows - positives) + rates.positive * positives;
  const totalSteps = Math.max(1, Math.round((options.epochs * rows) / expectedBatchSize));
  const accountingRate = Math.max(rates.negative, rates.positive);
  const accountant = privacy.accountant ?? 'rdp';
  const sigma =
    noiseMultiplier ??
    privacy.noiseMultiplier ??
    calibrate(accountingRate, totalSteps, privacy.delta, privacy.targetEpsilon as number, accountant);
  return {
    totalSteps,
    privacy: {
      clipNorm: privacy.clipNorm,
      delta: privacy.delta,
      accountant,
      rates,
      accountingRate,
      noiseMultiplier: sigma,
      expectedBatchSize,
    },
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
  const mechanism = { samplingRate: plan.accountingRate, noiseMultiplier: plan.noiseMultiplier, steps, delta: plan.delta };
  return epsilon(mechanism, plan.accountant).epsilon;
}
