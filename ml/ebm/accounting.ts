// Privacy accounting of DP-EBM: every noisy histogram is one Gaussian mechanism on the full data (no subsampling),
// sensitivity Δ (1 for the transaction unit, the card cap C for the card unit) and noise σ·Δ. Gaussian mechanisms
// compose exactly as one Gaussian: k releases with multipliers σ_1 … σ_k are μ-GDP with μ² = Σ 1/σ_i² (Dong, Roth,
// Su 2022, Corollary 3.3), and a μ-GDP mechanism is (ε, δ(ε))-DP for exactly
//   δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2)          (Balle & Wang, ICML 2018, Theorem 8),
// with no slack: the curve is the Gaussian's own privacy profile. So the run equals T plain Gaussian releases of one
// equivalent multiplier σ_eq = √T/μ, i.e. the ledger's 'poisson-gaussian' mechanism at sampling rate 1 and T steps.
import { InvalidInputError } from '../errors';
import { checkParam } from '../privacy/params';
import { normCdf, normLogCdf } from '../privacy/special';

/** δ(ε) of a μ-GDP mechanism (Balle–Wang); e^ε·Φ(·) is taken in logs so large ε cannot overflow. */
export function gaussianDelta(epsilon: number, mu: number): number {
  const a = -epsilon / mu;
  const delta = normCdf(a + mu / 2) - Math.exp(epsilon + normLogCdf(a - mu / 2));
  return Math.min(1, Math.max(0, delta));
}

/** Bisection for the x in [lo, hi] where a monotone f crosses `target` (to 1e-12 relative), `increasing` or not. */
function solve(f: (x: number) => number, target: number, lo: number, hi: number, increasing: boolean): number {
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (f(mid) > target === increasing) hi = mid;
    else lo = mid;
  }
  return increasing ? lo : hi;
}

/** The smallest ε ≥ 0 with δ(ε) ≤ δ for a μ-GDP mechanism (δ(ε) decreases in ε). */
export function gdpEpsilon(mu: number, delta: number): number {
  checkParam('delta', delta);
  if (!(mu > 0 && Number.isFinite(mu))) throw new InvalidInputError(`mu = ${mu}: must be a finite number > 0`);
  if (gaussianDelta(0, mu) <= delta) return 0;
  let hi = 1;
  while (gaussianDelta(hi, mu) > delta) hi *= 2;
  return solve((e) => gaussianDelta(e, mu), delta, 0, hi, false);
}

/** The largest μ whose ε at δ is at most `targetEpsilon` (δ(ε) increases in μ), rounded down: never above target. */
export function gdpMuFor(targetEpsilon: number, delta: number): number {
  checkParam('targetEpsilon', targetEpsilon);
  checkParam('delta', delta);
  let hi = 1;
  while (gaussianDelta(targetEpsilon, hi) < delta) hi *= 2;
  return solve((mu) => gaussianDelta(targetEpsilon, mu), delta, 0, hi, true);
}

/** μ of releases with these noise multipliers, each `times` times. */
export function composedMu(parts: ReadonlyArray<{ noiseMultiplier: number; times: number }>): number {
  return Math.sqrt(parts.reduce((sum, p) => sum + p.times / p.noiseMultiplier ** 2, 0));
}
