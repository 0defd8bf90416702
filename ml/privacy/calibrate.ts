// The inverse: the smallest noise multiplier (to a relative tolerance) whose ε at δ is within a target.
import { type Accountant, epsilon } from './accountant';
import { checkParam, type MechanismParams } from './params';

export interface NoiseCalibrationParams extends Omit<MechanismParams, 'noiseMultiplier'> {
  targetEpsilon: number;
  accountant?: Accountant;
  /** Stop when the bracket [lo, hi] satisfies hi − lo <= tolerance·hi; default 1e-4. */
  relativeTolerance?: number;
  valueDiscretizationInterval?: number;
}

export interface NoiseCalibration {
  /** σ with ε(σ) <= targetEpsilon (the upper end of the final bracket). */
  noiseMultiplier: number;
  /** ε(σ) at the returned σ. */
  epsilon: number;
}

const MAX_NOISE_MULTIPLIER = 1e6;

/**
 * Bisection over σ (ε is non-increasing in σ). The PLD search starts from the RDP answer, which is an upper bound
 * on the PLD's σ in practice, so the PLD accountant is never asked about very small σ (whose grids are huge).
 */
export function noiseMultiplierFor(params: NoiseCalibrationParams): NoiseCalibration {
  const accountant = params.accountant ?? 'rdp';
  checkParam('samplingRate', params.samplingRate);
  checkParam('steps', params.steps);
  checkParam('delta', params.delta);
  checkParam('targetEpsilon', params.targetEpsilon);
  const tolerance = params.relativeTolerance ?? 1e-4;
  const at = (noiseMultiplier: number) => epsilon({ ...params, noiseMultiplier }, accountant).epsilon;

  let hi = accountant === 'rdp' ? 1 : noiseMultiplierFor({ ...params, accountant: 'rdp' }).noiseMultiplier;
  let hiEpsilon = at(hi);
  while (hiEpsilon > params.targetEpsilon) {
    hi *= 2;
    if (hi > MAX_NOISE_MULTIPLIER) throw new RangeError(`no noise multiplier <= ${MAX_NOISE_MULTIPLIER} reaches the target epsilon`);
    hiEpsilon = at(hi);
  }
  let lo = hi / 2;
  while (at(lo) <= params.targetEpsilon) {
    hi = lo;
    lo /= 2;
  }
  hiEpsilon = at(hi);
  while (hi - lo > tolerance * hi) {
    const mid = 0.5 * (lo + hi);
    const midEpsilon = at(mid);
    if (midEpsilon <= params.targetEpsilon) {
      hi = mid;
      hiEpsilon = midEpsilon;
    } else lo = mid;
  }
  return { noiseMultiplier: hi, epsilon: hiEpsilon };
}
