// The privacy of a hyper-parameter search on private data that runs a RANDOM number of DP trials and releases only
// the best one: Papernot & Steinke, "Hyperparameter Tuning with Rényi Differential Privacy" (ICLR 2022).
//   Theorem 2 (K ~ truncated negative binomial TNB(η, γ), η > −1, 0 < γ < 1): if every trial is (λ, ε)-RDP and
//   (λ̂, ε̂)-RDP, the search is (λ, ε')-RDP with
//     ε' = ε + (1 + η)(1 − 1/λ̂) ε̂ + (1 + η) log(1/γ) / λ̂ + log(E[K]) / (λ − 1),
//     E[K] = η(1 − γ) / (γ(1 − γ^η)) for η ≠ 0, and (1/γ − 1) / log(1/γ) for η = 0 (the logarithmic distribution).
//   Theorem 6 (K ~ Poisson(μ)): if every trial is (λ, ε)-RDP and (ε̂, δ̂)-DP with e^ε̂ ≤ 1 + 1/(λ − 1), the search is
//   (λ, ε')-RDP with ε' = ε + μ δ̂ + log(μ) / (λ − 1).
// λ̂ is free in Theorem 2: the bound takes the best over the orders. Term for term what dp-accounting 0.6 computes
// for a RepeatAndSelectDpEvent (rdp_privacy_accountant._compute_rdp_repeat_and_select, compute_delta), checked
// against it in tests/unit/tuning-accounting.test.ts. The result converts to (ε, δ) as every RDP figure here does
// (rdpToEpsilon). The number of trials must itself be drawn from the distribution (drawTrialCount), never fixed.
import { getRandomValues } from 'node:crypto';
import { InvalidInputError } from '../errors';
import { DEFAULT_RDP_ORDERS, rdpToEpsilon } from '../privacy/rdp';
import { logAddExp } from '../privacy/special';

export type TrialCountDistribution = { kind: 'truncated-negative-binomial'; eta: number; gamma: number } | { kind: 'poisson'; mu: number };

/** The distributions a search can draw its number of trials from, named as dp-accounting's shapes ∞, 1 and 0. */
export const TRIAL_COUNT_KINDS = ['poisson', 'geometric', 'logarithmic'] as const;
export type TrialCountKind = (typeof TRIAL_COUNT_KINDS)[number];

/** (e^x − 1)/x and log(x)/(x − 1), accurate near their removable singularities (x → 0 and x → 1). */
const expm1OverX = (x: number) => (x === 0 ? 1 : Math.expm1(x) / x);
const logXOverXm1 = (x: number) => (x === 1 ? 1 : Math.log1p(x - 1) / (x - 1));

/** E[K] of the truncated negative binomial, in dp-accounting's stable form (1/(γ·expm1(η log γ)/(η log γ)·log γ/(γ−1))). */
function tnbMean(eta: number, gamma: number): number {
  if (eta === 1) return 1 / gamma;
  return 1 / (gamma * expm1OverX(eta * Math.log(gamma)) * logXOverXm1(gamma));
}

/** E[K] of the number of trials. */
export function expectedTrials(d: TrialCountDistribution): number {
  return d.kind === 'poisson' ? d.mu : tnbMean(d.eta, d.gamma);
}

/** Relative accuracy of γ solved from the mean (dp-accounting's default tolerance). */
const GAMMA_TOLERANCE = 1e-9;

/**
 * γ of TNB(η, γ) with E[K] = mean, by bisection as dp-accounting's _gamma_truncated_negative_binomial: E[K] falls
 * as γ rises, γ ≤ 2(η + 1)/mean, and the lower end (the larger mean: the conservative side) is returned.
 */
function tnbGamma(eta: number, mean: number): number {
  if (eta === 1) return 1 / mean;
  let lo = 0;
  let hi = Math.min(1, (2 * (eta + 1)) / mean);
  while (hi > lo * (1 + GAMMA_TOLERANCE)) {
    const gamma = (lo + hi) / 2;
    if (tnbMean(eta, gamma) < mean) hi = gamma;
    else lo = gamma;
  }
  return lo;
}

/** The distribution of K with E[K] = mean, in dp-accounting's (mean, shape) terms: shape ∞, 1 or 0. */
export function trialCountDistribution(kind: TrialCountKind, mean: number): TrialCountDistribution {
  if (!(Number.isFinite(mean) && mean >= 1))
    throw new InvalidInputError(`mean = ${mean}: the expected number of trials must be a finite number >= 1`);
  switch (kind) {
    case 'poisson':
      return { kind: 'poisson', mu: mean };
    case 'geometric':
      return { kind: 'truncated-negative-binomial', eta: 1, gamma: tnbGamma(1, mean) };
    case 'logarithmic':
      // E[K] = 1 only at γ = 1, where the logarithmic distribution is undefined.
      if (!(mean > 1)) throw new InvalidInputError(`mean = ${mean}: a logarithmic number of trials needs mean > 1`);
      return { kind: 'truncated-negative-binomial', eta: 0, gamma: tnbGamma(0, mean) };
    default:
      throw new InvalidInputError(`kind = ${String(kind)}: must be poisson, geometric or logarithmic`);
  }
}

/** A uniform double in [0, 1) from 53 random bits of node:crypto: the number of trials must not be predictable. */
export function secureUniform(): number {
  const [high, low] = getRandomValues(new Uint32Array(2));
  return ((high >>> 5) * 2 ** 26 + (low >>> 6)) / 2 ** 53;
}

/**
 * K = the least k whose CDF exceeds `u`, from terms p_k built by their ratio p_k/p_(k−1) (summed in log space, so a
 * large Poisson mean does not underflow p_0). Stops where the next term no longer moves the sum in double precision:
 * a u past that is lost to rounding, and the tail beyond it is below it.
 */
function invert(u: number, first: number, logP0: number, logRatio: (k: number) => number): number {
  const logU = Math.log(u);
  let k = first;
  let logP = logP0;
  let logCdf = logP0;
  while (!(logCdf > logU)) {
    k += 1;
    logP += logRatio(k);
    const next = logAddExp(logCdf, logP);
    if (next === logCdf) return k;
    logCdf = next;
  }
  return k;
}

/**
 * One draw of the number of trials by inversion of its CDF at `uniform()` in [0, 1): Poisson (K ≥ 0), geometric
 * (TNB η = 1) and logarithmic (η = 0), both K ≥ 1. Other η have no sampler here.
 */
export function drawTrialCount(d: TrialCountDistribution, uniform: () => number): number {
  checkDistribution(d);
  const u = uniform();
  if (!(u >= 0 && u < 1)) throw new InvalidInputError(`uniform() = ${u}: must be in [0, 1)`);
  if (d.kind === 'poisson') {
    const logMu = Math.log(d.mu);
    return invert(u, 0, -d.mu, (k) => logMu - Math.log(k));
  }
  const { eta, gamma } = d;
  // F(k) = 1 − (1 − γ)^k, so K = ⌊log(1 − u)/log(1 − γ)⌋ + 1 (γ = 1: always 1).
  if (eta === 1) return gamma === 1 ? 1 : Math.floor(Math.log1p(-u) / Math.log1p(-gamma)) + 1;
  if (eta === 0) {
    // p_k = (1 − γ)^k / (k·log(1/γ)), so p_k/p_(k−1) = (1 − γ)(k − 1)/k.
    const log1mGamma = Math.log1p(-gamma);
    return invert(u, 1, log1mGamma - Math.log(-Math.log(gamma)), (k) => log1mGamma + Math.log((k - 1) / k));
  }
  throw new InvalidInputError(`eta = ${eta}: trials can be drawn for eta 1 (geometric) or 0 (logarithmic) only`);
}

function checkDistribution(d: TrialCountDistribution): void {
  if (d.kind === 'poisson') {
    if (!(d.mu >= 1 && Number.isFinite(d.mu))) throw new InvalidInputError(`mu = ${d.mu}: the Poisson mean must be a finite number >= 1`);
    return;
  }
  if (!(d.eta > -1 && Number.isFinite(d.eta))) throw new InvalidInputError(`eta = ${d.eta}: must be a finite number > -1`);
  // γ = 1 is the limit K = 1 (E[K] = 1); the logarithmic pmf divides by log(1/γ), so it needs γ < 1.
  if (!(d.gamma > 0 && (d.gamma < 1 || (d.gamma === 1 && d.eta !== 0))))
    throw new InvalidInputError(`gamma = ${d.gamma}: must be in (0, 1], and below 1 for eta 0`);
}

/**
 * δ̂ of one trial at ε̂ from its RDP curve, as dp-accounting's compute_delta: per order the smaller of the KL bound
 * δ ≤ √(1 − e^−r) and, for α > 1.01 (below it the bound is unstable and useless), exp((α − 1)(r + log(1 − 1/α) − ε̂))/α;
 * the least over orders, at most 1.
 */
export function deltaFromRdp(orders: readonly number[], rdp: readonly number[], epsilon: number): number {
  let best = Number.POSITIVE_INFINITY;
  orders.forEach((alpha, k) => {
    if (!(alpha >= 1)) throw new InvalidInputError(`orders[${k}] = ${alpha}: an RDP order must be >= 1`);
    const r = rdp[k];
    let logDelta = r <= 0 ? Number.NEGATIVE_INFINITY : 0.5 * Math.log1p(-Math.exp(-r));
    if (alpha > 1.01) logDelta = Math.min(logDelta, (alpha - 1) * (r - epsilon + Math.log1p(-1 / alpha)) - Math.log(alpha));
    best = Math.min(best, logDelta);
  });
  return Math.min(Math.exp(best), 1);
}

/** The search's RDP at each order, from one trial's RDP at the same orders (Theorems 2 and 6); +∞ at orders ≤ 1. */
export function randomTrialsRdp(orders: readonly number[], trialRdp: readonly number[], d: TrialCountDistribution): number[] {
  checkDistribution(d);
  if (orders.length !== trialRdp.length || !orders.length)
    throw new InvalidInputError('orders and trialRdp must be non-empty and of equal length');
  const logTrials = Math.log(expectedTrials(d));
  const atOrders = (extra: (k: number) => number) =>
    orders.map((lambda, k) => (lambda > 1 ? trialRdp[k] + extra(k) + logTrials / (lambda - 1) : Number.POSITIVE_INFINITY));
  if (d.kind === 'poisson') return atOrders((k) => d.mu * deltaFromRdp(orders, trialRdp, Math.log1p(1 / (orders[k] - 1))));
  const scale = 1 + d.eta;
  const best = scale * Math.min(...orders.map((lambdaHat, k) => (1 - 1 / lambdaHat) * trialRdp[k] - Math.log(d.gamma) / lambdaHat));
  return monotone(
    orders,
    atOrders(() => best),
  );
}

/** RDP is non-decreasing in the order: each order's bound is the least at that order or above. */
function monotone(orders: readonly number[], rdp: number[]): number[] {
  const byOrder = orders.map((_, k) => k).sort((a, b) => orders[b] - orders[a]);
  let least = Number.POSITIVE_INFINITY;
  const out = rdp.slice();
  for (let i = 0; i < byOrder.length; ) {
    // Equal orders share one bound.
    let j = i;
    while (j < byOrder.length && orders[byOrder[j]] === orders[byOrder[i]]) least = Math.min(least, rdp[byOrder[j++]]);
    for (; i < j; i++) out[byOrder[i]] = least;
  }
  return out;
}

export interface TuningPrivacy {
  /** ε of the whole search at δ. */
  epsilon: number;
  delta: number;
  /** The RDP order of the conversion. */
  order: number;
  expectedTrials: number;
}

/**
 * (ε, δ) of a search with a random number of trials, each with RDP `trialRdp(order)` (e.g. DP-SGD's composed
 * subsampled Gaussian: composedRdp). Orders default to dp-accounting's.
 */
export function randomTrialsEpsilon(
  trialRdp: (order: number) => number,
  d: TrialCountDistribution,
  delta: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): TuningPrivacy {
  if (!(delta > 0 && delta < 1)) throw new InvalidInputError(`delta = ${delta}: must be in (0, 1)`);
  const rdp = randomTrialsRdp(orders, orders.map(trialRdp), d);
  const { epsilon, order } = rdpToEpsilon(orders, rdp, delta);
  return { epsilon, delta, order, expectedTrials: expectedTrials(d) };
}
