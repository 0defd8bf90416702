// The privacy of a hyper-parameter search on private data that runs a RANDOM number of DP trials and releases only
// the best one: Papernot & Steinke, "Hyperparameter Tuning with Rényi Differential Privacy" (ICLR 2022).
//   Theorem 2 (K ~ truncated negative binomial TNB(η, γ), η > −1, 0 < γ < 1): if every trial is (λ, ε)-RDP and
//   (λ̂, ε̂)-RDP, the search is (λ, ε')-RDP with
//     ε' = ε + (1 + η)(1 − 1/λ̂) ε̂ + (1 + η) log(1/γ) / λ̂ + log(E[K]) / (λ − 1),
//     E[K] = η(1 − γ) / (γ(1 − γ^η)) for η ≠ 0, and (1/γ − 1) / log(1/γ) for η = 0 (the logarithmic distribution).
//   Theorem 6 (K ~ Poisson(μ)): if every trial is (λ, ε)-RDP and (ε̂, δ̂)-DP with e^ε̂ ≤ 1 + 1/(λ − 1), the search is
//   (λ, ε')-RDP with ε' = ε + μ δ̂ + log(μ) / (λ − 1).
// λ̂ is free in Theorem 2: the bound takes the best over the orders. The result converts to (ε, δ) as every RDP
// figure here does (rdpToEpsilon). The number of trials must itself be drawn from the distribution (never fixed).
import { InvalidInputError } from '../errors';
import { DEFAULT_RDP_ORDERS, rdpToEpsilon } from '../privacy/rdp';

export type TrialCountDistribution = { kind: 'truncated-negative-binomial'; eta: number; gamma: number } | { kind: 'poisson'; mu: number };

/** E[K] of the number of trials. */
export function expectedTrials(d: TrialCountDistribution): number {
  if (d.kind === 'poisson') return d.mu;
  const { eta, gamma } = d;
  return eta === 0 ? (1 / gamma - 1) / Math.log(1 / gamma) : (eta * (1 - gamma)) / (gamma * (1 - gamma ** eta));
}

function checkDistribution(d: TrialCountDistribution): void {
  if (d.kind === 'poisson') {
    if (!(d.mu > 0 && Number.isFinite(d.mu))) throw new InvalidInputError(`mu = ${d.mu}: the Poisson mean must be a finite number > 0`);
    return;
  }
  if (!(d.eta > -1 && Number.isFinite(d.eta))) throw new InvalidInputError(`eta = ${d.eta}: must be a finite number > -1`);
  if (!(d.gamma > 0 && d.gamma < 1)) throw new InvalidInputError(`gamma = ${d.gamma}: must be in (0, 1)`);
}

/**
 * δ̂ of one trial at ε̂, from its RDP curve (the same conversion as rdpToEpsilon, solved for δ):
 * δ = min over α of exp((α − 1)(r_α + log(1 − 1/α) − ε̂)) / α.
 */
export function deltaFromRdp(orders: readonly number[], rdp: readonly number[], epsilon: number): number {
  let best = 1;
  orders.forEach((alpha, k) => {
    if (alpha <= 1) return;
    const logDelta = (alpha - 1) * (rdp[k] + Math.log1p(-1 / alpha) - epsilon) - Math.log(alpha);
    best = Math.min(best, Math.exp(logDelta));
  });
  return best;
}

/** The search's RDP at each order, from one trial's RDP at the same orders (Theorems 2 and 6). */
export function randomTrialsRdp(orders: readonly number[], trialRdp: readonly number[], d: TrialCountDistribution): number[] {
  checkDistribution(d);
  if (orders.length !== trialRdp.length || !orders.length)
    throw new InvalidInputError('orders and trialRdp must be non-empty and of equal length');
  const logTrials = Math.log(expectedTrials(d));
  if (d.kind === 'poisson') {
    return orders.map((lambda, k) => {
      const epsilonHat = Math.log1p(1 / (lambda - 1));
      return trialRdp[k] + d.mu * deltaFromRdp(orders, trialRdp, epsilonHat) + logTrials / (lambda - 1);
    });
  }
  const scale = 1 + d.eta;
  const best = Math.min(
    ...orders.map((lambdaHat, k) => scale * (1 - 1 / lambdaHat) * trialRdp[k] + (scale * Math.log(1 / d.gamma)) / lambdaHat),
  );
  return orders.map((lambda, k) => trialRdp[k] + best + logTrials / (lambda - 1));
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
