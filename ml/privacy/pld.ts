// Privacy loss distribution (PLD) accountant for the Poisson-subsampled Gaussian mechanism, after dp-accounting's
// PLDAccountant (v0.6):
//  * each step's PLD is discretised on the grid {iΔ} by connect-the-dots (Doroshenko, Ghazi, Kamath, Kumar,
//    Manurangsi 2022, Algorithm 1): the discrete PLD whose hockey-stick curve δ(ε) interpolates the exact curve at the
//    grid points linearly in e^ε. The exact curve is convex in e^ε, so the interpolation lies above it: the
//    discretisation is pessimistic (dominates the true mechanism), unlike rounding to the nearest point;
//  * the noise tail beyond 0.5·e^{-50} is moved to the +∞ atom (pessimistic);
//  * T self-compositions are computed in one step as the T-th power of the DFT, on a window chosen by a Chernoff
//    bound; the ≤ 1e-15 of mass outside the window is added to the +∞ atom (pessimistic);
//  * add and remove adjacency are tracked separately and ε is the larger of the two.
// What is not bounded is floating-point rounding in the FFT (relative ~1e-10 at T = 1e6).
// The pessimism of the grid grows with T: at T = 1e6 and Δ = 1e-4 ε can sit a few hundredths above the converged
// value; a smaller valueDiscretizationInterval tightens it at proportional cost.
import { InvalidInputError } from '../errors';
import { fft, nextPowerOfTwo } from './fft';
import { checkMechanismParams, checkParam, type MechanismParams } from './params';
import { logAddExp, logATimesExpBPlusC, normCdf, normLogCdf, normPpf } from './special';

export const DEFAULT_VALUE_DISCRETIZATION_INTERVAL = 1e-4;
const LOG_MASS_TRUNCATION_BOUND = -50;
const TAIL_MASS_TRUNCATION = 1e-15;
const MAX_GRID = 2 ** 23;

export type Adjacency = 'remove' | 'add';

/** A discrete PLD: probs[k] is the mass of privacy loss (lowerIndex + k)·interval; infinityMass the mass at +∞. */
export interface DiscretePld {
  interval: number;
  lowerIndex: number;
  probs: Float64Array;
  infinityMass: number;
}

function isClose(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * The privacy loss of one step, sensitivity 1, noise N(0, σ²). Remove: μ_upper = (1−q)·N(0,σ²) + q·N(−1,σ²),
 * μ_lower = N(0,σ²); add: μ_upper = N(0,σ²), μ_lower = (1−q)·N(0,σ²) + q·N(1,σ²). Loss ln(μ_upper/μ_lower)(x) is
 * non-increasing in x.
 */
function subsampledGaussianLoss(q: number, sigma: number, adjacency: Adjacency) {
  const s2 = sigma * sigma;
  const lossUnsampledRemove = (x: number) => (-0.5 - x) / s2;
  const inverseUnsampledRemove = (loss: number) => -0.5 - loss * s2;
  const lossRemove = (x: number) => (q === 1 ? lossUnsampledRemove(x) : logATimesExpBPlusC(q, lossUnsampledRemove(x), 1 - q));

  const loss = (x: number) => (adjacency === 'remove' ? lossRemove(x) : -lossRemove(-x));

  /** The largest x whose loss is at least `value`. */
  const inverse = (value: number): number => {
    if (adjacency === 'remove') {
      if (q === 1) return inverseUnsampledRemove(value);
      if (isClose(value, Math.log(1 - q))) return Number.POSITIVE_INFINITY;
      return inverseUnsampledRemove(logATimesExpBPlusC(1 / q, value, 1 - 1 / q));
    }
    if (q === 1) return 1 + inverseUnsampledRemove(value);
    if (isClose(value, -Math.log(1 - q))) return Number.NEGATIVE_INFINITY;
    return 1 + inverseUnsampledRemove(-logATimesExpBPlusC(1 / q, -value, 1 - 1 / q));
  };

  const muUpperCdf = (x: number) => {
    if (adjacency === 'add') return normCdf(x / sigma);
    if (q === 1) return normCdf((x + 1) / sigma);
    return (1 - q) * normCdf(x / sigma) + q * normCdf((x + 1) / sigma);
  };

  const muLowerLogCdf = (x: number) => {
    if (adjacency === 'remove') return normLogCdf(x / sigma);
    if (q === 1) return normLogCdf((x - 1) / sigma);
    return logAddExp(Math.log1p(-q) + normLogCdf(x / sigma), Math.log(q) + normLogCdf((x - 1) / sigma));
  };

  /** The exact hockey-stick divergence δ(ε) of one step. */
  const deltaForEpsilon = (epsilon: number): number => {
    if (q < 1) {
      if (adjacency === 'add' && epsilon >= -Math.log1p(-q)) return 0;
      if (adjacency === 'remove' && epsilon <= Math.log1p(-q)) return -Math.expm1(epsilon);
    }
    const x = inverse(epsilon);
    const delta = muUpperCdf(x) - Math.exp(epsilon + muLowerLogCdf(x));
    return Math.min(1, Math.max(0, delta));
  };

  // Truncation points: each Gaussian component keeps all but 0.5·e^{-50} of its mass.
  const tail = sigma * normPpf(0.5 * Math.exp(LOG_MASS_TRUNCATION_BOUND));
  const lowerX = adjacency === 'remove' ? tail - 1 : tail;
  const upperX = adjacency === 'add' ? -tail + 1 : -tail;
  return { deltaForEpsilon, epsilonUpper: loss(lowerX), epsilonLower: loss(upperX) };
}

function tooLarge(points: number, interval: number): InvalidInputError {
  return new InvalidInputError(
    `noiseMultiplier too small for the PLD accountant at valueDiscretizationInterval ${interval}: the grid would need ` +
      `${points} points (limit ${MAX_GRID}); raise valueDiscretizationInterval or use the rdp accountant`,
  );
}

/** One step's PLD, discretised pessimistically by connect-the-dots. */
export function connectDotsPld(q: number, sigma: number, adjacency: Adjacency, interval: number): DiscretePld {
  const mechanism = subsampledGaussianLoss(q, sigma, adjacency);
  const lo = Math.floor(mechanism.epsilonLower / interval);
  const hi = Math.ceil(mechanism.epsilonUpper / interval);
  const n = hi - lo + 1;
  if (n > MAX_GRID) throw tooLarge(n, interval);
  const deltas = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    deltas[k] = mechanism.deltaForEpsilon((lo + k) * interval);
    if (k > 0 && deltas[k] > deltas[k - 1]) deltas[k] = deltas[k - 1]; // δ(ε) is non-increasing; remove rounding bumps
  }
  const probs = new Float64Array(n);
  if (n === 1) {
    probs[0] = 1 - deltas[0];
    return { interval, lowerIndex: lo, probs, infinityMass: deltas[0] };
  }
  const expm1 = Math.expm1(interval);
  const exp = Math.exp(interval);
  probs[0] = 1 - deltas[0] + (deltas[1] - deltas[0]) / expm1;
  for (let k = 1; k < n - 1; k++) {
    probs[k] = (deltas[k + 1] - deltas[k] - (deltas[k] - deltas[k - 1]) * exp) / expm1;
  }
  probs[n - 1] = (deltas[n - 1] - deltas[n - 2]) / Math.expm1(-interval);
  for (let k = 0; k < n; k++) if (probs[k] < 0) probs[k] = 0;
  return { interval, lowerIndex: lo, probs, infinityMass: deltas[n - 1] };
}

/** Window [lower, upper] (offsets into the T-fold sum of indices) holding all but `tailMass` of the mass (Chernoff). */
function selfConvolveBounds(probs: Float64Array, times: number, tailMass: number): [number, number] {
  const n = probs.length;
  let lower = 0;
  let upper = (n - 1) * times;
  for (let k = -20; k <= 20; k++) {
    if (k === 0) continue;
    const order = k / n;
    let mgf = 0;
    for (let i = 0; i < n; i++) mgf += probs[i] * Math.exp(i * order);
    const bound = (times * Math.log(mgf) + Math.log(2 / tailMass)) / order;
    if (!Number.isFinite(bound)) continue;
    if (order > 0) upper = Math.min(upper, Math.ceil(bound));
    else lower = Math.max(lower, Math.floor(bound));
  }
  return [lower, upper];
}

/** The PLD of `times` independent compositions of `pld` with itself (T-th power in the Fourier domain). */
export function selfCompose(pld: DiscretePld, times: number): DiscretePld {
  if (times === 1) return pld;
  const [lower, upper] = selfConvolveBounds(pld.probs, times, TAIL_MASS_TRUNCATION);
  const outputLength = upper - lower + 1;
  const size = nextPowerOfTwo(Math.max(outputLength, pld.probs.length));
  if (size > MAX_GRID) throw tooLarge(size, pld.interval);
  const re = new Float64Array(size);
  const im = new Float64Array(size);
  re.set(pld.probs);
  fft(re, im);
  for (let k = 0; k < size; k++) {
    const magnitude = Math.hypot(re[k], im[k]);
    if (magnitude === 0) continue;
    const scaled = Math.exp(times * Math.log(magnitude));
    const angle = times * Math.atan2(im[k], re[k]);
    re[k] = scaled * Math.cos(angle);
    im[k] = scaled * Math.sin(angle);
  }
  fft(re, im, true);
  // The transform is circular: entry j holds the composed mass at index j ≡ lower + m (mod size), m in the window.
  const probs = new Float64Array(outputLength);
  for (let m = 0; m < outputLength; m++) probs[m] = re[(((lower + m) % size) + size) % size] / size;
  return {
    interval: pld.interval,
    lowerIndex: pld.lowerIndex * times + lower,
    probs,
    infinityMass: TAIL_MASS_TRUNCATION - Math.expm1(times * Math.log1p(-pld.infinityMass)),
  };
}

/** The smallest ε >= 0 whose hockey-stick divergence under `pld` is at most δ (+∞ if the +∞ atom exceeds δ). */
export function epsilonForDelta(pld: DiscretePld, delta: number): number {
  if (pld.infinityMass > delta) return Number.POSITIVE_INFINITY;
  let massUpper = pld.infinityMass;
  let massLower = 0;
  for (let k = pld.probs.length - 1; k >= 0; k--) {
    const loss = (pld.lowerIndex + k) * pld.interval;
    if (massUpper > delta && massLower > 0 && Math.log((massUpper - delta) / massLower) >= loss) break;
    massUpper += pld.probs[k];
    massLower += Math.exp(-loss) * pld.probs[k];
    if (massUpper >= delta && massLower === 0) return Math.max(0, loss);
  }
  if (massUpper <= massLower + delta) return 0;
  return Math.log((massUpper - delta) / massLower);
}

export interface PldEpsilonParams extends MechanismParams {
  /** Grid step Δ of the privacy loss; default 1e-4 (dp-accounting's). Smaller is tighter and slower. */
  valueDiscretizationInterval?: number;
}

/** ε of the `steps`-fold Poisson-subsampled Gaussian mechanism at δ, by the PLD accountant (a pessimistic estimate). */
export function pldEpsilon(params: PldEpsilonParams): { epsilon: number } {
  checkMechanismParams(params);
  const interval = params.valueDiscretizationInterval ?? DEFAULT_VALUE_DISCRETIZATION_INTERVAL;
  checkParam('valueDiscretizationInterval', interval);
  const { samplingRate: q, noiseMultiplier: sigma, steps, delta } = params;
  const adjacencies: Adjacency[] = q === 1 ? ['remove'] : ['remove', 'add'];
  let epsilon = 0;
  for (const adjacency of adjacencies) {
    const composed = selfCompose(connectDotsPld(q, sigma, adjacency, interval), steps);
    epsilon = Math.max(epsilon, epsilonForDelta(composed, delta));
  }
  return { epsilon };
}

/**
 * The worst-case (dominating) PLD of an (ε, δ)-DP mechanism, as dp-accounting's from_privacy_parameters (its Sec. 3.5
 * of the supplement): +∞ with mass δ, ε with (1 − δ)/(1 + e^−ε), −ε with (1 − δ)/(1 + e^ε), each loss rounded up to
 * the grid (pessimistic). The same for add and remove adjacency.
 */
export function approximateDpPld(epsilon: number, delta: number, interval: number): DiscretePld {
  const upper = Math.ceil(epsilon / interval);
  const lower = Math.ceil(-epsilon / interval);
  if (upper - lower + 1 > MAX_GRID)
    throw new InvalidInputError(
      `epsilon = ${epsilon}: its PLD at interval ${interval} needs ${upper - lower + 1} points (limit ${MAX_GRID})`,
    );
  const probs = new Float64Array(upper - lower + 1);
  probs[upper - lower] = (1 - delta) / (1 + Math.exp(-epsilon));
  // At ε = 0 both losses fall in one bucket.
  probs[0] += (1 - delta) / (1 + Math.exp(epsilon));
  return { interval, lowerIndex: lower, probs, infinityMass: delta };
}

/** The PLD of two independent mechanisms run one after the other: the convolution of their losses (same grid). */
export function composePlds(a: DiscretePld, b: DiscretePld): DiscretePld {
  if (!isClose(a.interval, b.interval))
    throw new InvalidInputError(`composePlds needs one grid; got intervals ${a.interval} and ${b.interval}`);
  const infinityMass = Math.min(1, a.infinityMass + b.infinityMass - a.infinityMass * b.infinityMass);
  const lowerIndex = a.lowerIndex + b.lowerIndex;
  if (a.probs.length === 0 || b.probs.length === 0)
    return { interval: a.interval, lowerIndex, probs: new Float64Array(0), infinityMass: 1 };
  const outputLength = a.probs.length + b.probs.length - 1;
  const size = nextPowerOfTwo(outputLength);
  if (size > MAX_GRID) throw tooLarge(size, a.interval);
  const aRe = new Float64Array(size);
  const aIm = new Float64Array(size);
  const bRe = new Float64Array(size);
  const bIm = new Float64Array(size);
  aRe.set(a.probs);
  bRe.set(b.probs);
  fft(aRe, aIm);
  fft(bRe, bIm);
  for (let k = 0; k < size; k++) {
    const re = aRe[k] * bRe[k] - aIm[k] * bIm[k];
    aIm[k] = aRe[k] * bIm[k] + aIm[k] * bRe[k];
    aRe[k] = re;
  }
  fft(aRe, aIm, true);
  const probs = new Float64Array(outputLength);
  // Rounding leaves values of order 1e-17 where the mass is 0; a negative mass is no mass.
  for (let k = 0; k < outputLength; k++) probs[k] = Math.max(0, aRe[k] / size);
  return truncateTails({ interval: a.interval, lowerIndex, probs, infinityMass });
}

/**
 * Keeps the support from growing with every composition, pessimistically (as dp-accounting does): up to
 * TAIL_MASS_TRUNCATION/2 of the lowest losses moves up to the lowest kept loss, as much of the highest to +∞.
 */
function truncateTails(pld: DiscretePld): DiscretePld {
  const { probs } = pld;
  const bound = TAIL_MASS_TRUNCATION / 2;
  let lo = 0;
  let below = 0;
  while (lo < probs.length - 1 && below + probs[lo] <= bound) below += probs[lo++];
  let hi = probs.length - 1;
  let above = 0;
  while (hi > lo && above + probs[hi] <= bound) above += probs[hi--];
  if (lo === 0 && hi === probs.length - 1) return pld;
  const kept = probs.slice(lo, hi + 1);
  kept[0] += below;
  return { interval: pld.interval, lowerIndex: pld.lowerIndex + lo, probs: kept, infinityMass: pld.infinityMass + above };
}
