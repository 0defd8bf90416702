// Rényi DP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy
// of the Sampled Gaussian Mechanism", Sec. 3.3) and its conversion to (ε, δ) (Balle et al. 2020, "Hypothesis
// testing interpretations and Rényi differential privacy", Thm. 21). Follows dp-accounting's
// rdp_privacy_accountant (v0.6) term for term, so RDP values and ε agree with it to rounding.
import { checkMechanismParams, type MechanismParams } from './params';
import { logAddExp, logErfc } from './special';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** dp-accounting's DEFAULT_RDP_ORDERS: 1.1..10.9 step 0.1, 11..63, 128, 256, 512, 1024. */
export const DEFAULT_RDP_ORDERS: readonly number[] = [...range(1, 100).map((x) => 1 + x / 10), ...range(11, 64), 128, 256, 512, 1024];

/** Opacus' RDPAccountant.DEFAULT_ALPHAS: 1.1..10.9 step 0.1, 12..63 (no 11, nothing above 63). */
export const OPACUS_RDP_ORDERS: readonly number[] = [...range(1, 100).map((x) => 1 + x / 10), ...range(12, 64)];

/** log A_α for integer α: the binomial expansion of E[(1 − q + q·e^{(2x−1)/2σ²})^α], summed in log space. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logA = Number.NEGATIVE_INFINITY;
  let logBinom = 0; // log C(α, i), by the recurrence C(α, i) = C(α, i−1)·(α − i + 1)/i
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const term = logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / (2 * sigma * sigma);
    logA = logAddExp(logA, term);
  }
  return logA;
}

const MAX_STEPS_FRACTIONAL = 1000;

/**
 * log A_α for fractional α: the two series over (−∞, z0] and [z0, ∞). Like dp-accounting 0.6 this adds the
 * magnitudes of all terms (an upper bound on A_α when generalised binomial coefficients turn negative; Opacus
 * subtracts those instead, which gives a smaller value at small fractional orders). Returns +∞ when the series has
 * not converged after 1000 terms, which drops the order from the ε minimisation, as dp-accounting does.
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = Number.NEGATIVE_INFINITY;
  let logA1 = Number.NEGATIVE_INFINITY;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const scale = Math.SQRT2 * sigma;
  let lastS0 = Number.NEGATIVE_INFINITY;
  let lastS1 = Number.NEGATIVE_INFINITY;
  let logAbsBinom = 0; // log |C(α, i)|
  for (let i = 0; i < MAX_STEPS_FRACTIONAL; i++) {
    if (i > 0) logAbsBinom += Math.log(Math.abs((alpha - i + 1) / i));
    const j = alpha - i;
    const logT0 = logAbsBinom + i * logQ + j * log1mQ;
    const logT1 = logAbsBinom + j * logQ + i * log1mQ;
    const logE0 = Math.log(0.5) + logErfc((i - z0) / scale);
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / scale);
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    logA0 = logAddExp(logA0, logS0);
    logA1 = logAddExp(logA1, logS1);
    const total = logAddExp(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return Number.POSITIVE_INFINITY;
}

/** RDP ε_α of one step of the Poisson-subsampled Gaussian mechanism at order α > 1 (add/remove-one relation). */
export function subsampledGaussianRdp(samplingRate: number, noiseMultiplier: number, order: number): number {
  if (!(order > 1)) throw new RangeError(`RDP order must be > 1; got ${order}`);
  if (order === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  if (samplingRate === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  const logA = Number.isInteger(order)
    ? logAInteger(samplingRate, noiseMultiplier, order)
    : logAFractional(samplingRate, noiseMultiplier, order);
  return logA / (order - 1);
}

/** RDP of the `steps`-fold composition at each order (RDP composes additively). */
export function composedRdp(
  params: Pick<MechanismParams, 'samplingRate' | 'noiseMultiplier' | 'steps'>,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  return orders.map((order) => params.steps * subsampledGaussianRdp(params.samplingRate, params.noiseMultiplier, order));
}

export interface RdpConversion {
  epsilon: number;
  /** The order at which the minimum was reached. */
  order: number;
}

/**
 * (ε, δ) from RDP, minimised over orders: ε = r_α + log(1 − 1/α) − log(δ·α)/(α − 1) (Balle et al. 2020, Thm. 21;
 * dp-accounting's compute_epsilon). Opacus' get_privacy_spent uses the same formula but neither clips ε at 0 nor
 * applies the KL shortcut (ε = 0 when δ² > 1 − e^{−r}), so the two agree whenever ε > 0 and the orders are the same.
 */
export function rdpToEpsilon(orders: readonly number[], rdp: readonly number[], delta: number): RdpConversion {
  if (orders.length !== rdp.length || orders.length === 0) throw new RangeError('orders and rdp must be non-empty and of equal length');
  let best = { epsilon: Number.POSITIVE_INFINITY, order: orders[0] };
  for (let k = 0; k < orders.length; k++) {
    const alpha = orders[k];
    const r = rdp[k];
    let epsilon: number;
    if (r < 0 || delta * delta + Math.expm1(-r) > 0) epsilon = 0;
    else if (alpha > 1.01) epsilon = r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1);
    else epsilon = Number.POSITIVE_INFINITY;
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

export interface RdpEpsilonParams extends MechanismParams {
  /** RDP orders to minimise over; default DEFAULT_RDP_ORDERS (dp-accounting's). */
  orders?: readonly number[];
}

/** ε of the `steps`-fold Poisson-subsampled Gaussian mechanism at δ, by the RDP accountant. */
export function rdpEpsilon(params: RdpEpsilonParams): RdpConversion {
  checkMechanismParams(params);
  const orders = params.orders ?? DEFAULT_RDP_ORDERS;
  return rdpToEpsilon(orders, composedRdp(params, orders), params.delta);
}
