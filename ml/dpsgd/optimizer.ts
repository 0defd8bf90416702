// SGD (with PyTorch's momentum form), Adam and DP-AdamBC on the flat parameter vector. Updates are computed in
// float64 and rounded into the float32 parameters; the state (float64) is part of a checkpoint.
import type { OptimizerKind } from './types';

export type { OptimizerKind };

export interface OptimizerState {
  /** Updates applied so far (Adam's bias correction needs it). */
  updates: number;
  /** SGD: the momentum buffer; Adam: the first moment. Empty for plain SGD. */
  first: Float64Array;
  /** Adam: the second moment; empty otherwise. */
  second: Float64Array;
}

/** What one update needs besides the state: the step size and the optimizer's constants. */
export interface UpdateSettings {
  kind: OptimizerKind;
  learningRate: number;
  /** SGD momentum (0: none). */
  momentum: number;
  /**
   * adam-bc: the variance of the DP noise in each coordinate of the gradient (the same every step: (σ·C′/B)² for
   * noise std σ·C′ on the sum and normaliser B); 0 without privacy.
   */
  noiseVariance: number;
  /** adam-bc: γ', the floor of the corrected second moment. */
  floor: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;
export const DEFAULT_ADAM_BC_FLOOR = 1e-8;

const isAdam = (kind: OptimizerKind) => kind === 'adam' || kind === 'adam-bc';

export function initialOptimizerState(kind: OptimizerKind, size: number, momentum: number): OptimizerState {
  const first = isAdam(kind) || momentum > 0 ? new Float64Array(size) : new Float64Array(0);
  return { updates: 0, first, second: new Float64Array(isAdam(kind) ? size : 0) };
}

/**
 * adam-bc's denominator (Tang et al., AAAI 2024, "DP-AdamBC: Your DP-Adam is actually DP-SGD (unless you apply bias
 * correction)"): under DP the second moment estimates E[g̃²] = g² + Φ, Φ the known noise variance, so Adam's
 * m̂/√v̂ tends to m̂/√Φ, a rescaled SGD. Subtracting Φ (floored at γ') restores the per-coordinate scaling.
 */
export function correctedSecondMoment(secondCorrected: number, noiseVariance: number, floor: number): number {
  return Math.max(secondCorrected - noiseVariance, floor);
}

/** One step on `params` (in place) along `gradient`. */
export function applyUpdate(settings: UpdateSettings, state: OptimizerState, params: Float32Array, gradient: Float64Array): void {
  const { kind, learningRate, momentum } = settings;
  state.updates++;
  const { first, second } = state;
  if (kind === 'sgd') {
    for (let j = 0; j < params.length; j++) {
      let direction = gradient[j];
      if (momentum > 0) direction = first[j] = momentum * first[j] + direction;
      params[j] -= learningRate * direction;
    }
    return;
  }
  const firstCorrection = 1 - BETA1 ** state.updates;
  const secondCorrection = 1 - BETA2 ** state.updates;
  const corrected = kind === 'adam-bc';
  for (let j = 0; j < params.length; j++) {
    const g = gradient[j];
    first[j] = BETA1 * first[j] + (1 - BETA1) * g;
    second[j] = BETA2 * second[j] + (1 - BETA2) * g * g;
    const v = second[j] / secondCorrection;
    const scale = corrected
      ? Math.sqrt(correctedSecondMoment(v, settings.noiseVariance, settings.floor)) + EPSILON
      : Math.sqrt(v) + EPSILON;
    params[j] -= (learningRate * (first[j] / firstCorrection)) / scale;
  }
}

/** The step size at `step` of `totalSteps`: constant, or a cosine decay from the base rate to 0 (a function of the step only, so resume-safe). */
export function scheduledRate(base: number, decay: 'none' | 'cosine', step: number, totalSteps: number): number {
  if (decay === 'none') return base;
  return base * 0.5 * (1 + Math.cos((Math.PI * step) / Math.max(1, totalSteps)));
}
