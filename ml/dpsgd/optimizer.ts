// SGD (with PyTorch's momentum form) and Adam on the flat parameter vector. Updates are computed in float64 and
// rounded into the float32 parameters; the state (float64) is part of a checkpoint.

export type OptimizerKind = 'sgd' | 'adam';

export interface OptimizerState {
  /** Updates applied so far (Adam's bias correction needs it). */
  updates: number;
  /** SGD: the momentum buffer; Adam: the first moment. Empty for plain SGD. */
  first: Float64Array;
  /** Adam: the second moment; empty otherwise. */
  second: Float64Array;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

export function initialOptimizerState(kind: OptimizerKind, size: number, momentum: number): OptimizerState {
  const first = kind === 'adam' || momentum > 0 ? new Float64Array(size) : new Float64Array(0);
  return { updates: 0, first, second: new Float64Array(kind === 'adam' ? size : 0) };
}

/** One step on `params` (in place) along `gradient`. */
export function applyUpdate(
  kind: OptimizerKind,
  learningRate: number,
  momentum: number,
  state: OptimizerState,
  params: Float32Array,
  gradient: Float64Array,
): void {
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
  for (let j = 0; j < params.length; j++) {
    const g = gradient[j];
    first[j] = BETA1 * first[j] + (1 - BETA1) * g;
    second[j] = BETA2 * second[j] + (1 - BETA2) * g * g;
    params[j] -= (learningRate * (first[j] / firstCorrection)) / (Math.sqrt(second[j] / secondCorrection) + EPSILON);
  }
}

/** The step size at `step` of `totalSteps`: constant, or a cosine decay from the base rate to 0 (a function of the step only, so resume-safe). */
export function scheduledRate(base: number, decay: 'none' | 'cosine', step: number, totalSteps: number): number {
  if (decay === 'none') return base;
  return base * 0.5 * (1 + Math.cos((Math.PI * step) / Math.max(1, totalSteps)));
}
