// The privacy of a tuning search with a random number of trials (Papernot & Steinke 2022): the theorems in closed
// form, agreement with dp-accounting 0.6's RepeatAndSelectDpEvent (tests/fixtures/privacy/accounting-reference.json,
// section repeat_and_select, from tools/reference/privacy_reference.py --update), and the sampler of the number of trials.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { composedRdp } from '../../ml/privacy/rdp';
import { Rng } from '../../ml/random';
import {
  drawTrialCount,
  expectedTrials,
  randomTrialsEpsilon,
  randomTrialsRdp,
  secureUniform,
  type TrialCountDistribution,
  type TrialCountKind,
  trialCountDistribution,
} from '../../ml/tuning/accounting';

describe('Papernot–Steinke accounting (random number of trials)', () => {
  // One Gaussian mechanism without subsampling: RDP λ/(2σ²), so Theorem 2's minimum over λ̂ has a closed form.
  const sigma = 5;
  const gaussian = (order: number) => order / (2 * sigma * sigma);
  const orders = Array.from({ length: 20000 }, (_, i) => 1.01 + i * 0.01);

  it('E[K] of the truncated negative binomial and of the logarithmic distribution (η = 0)', () => {
    assert.ok(Math.abs(expectedTrials({ kind: 'truncated-negative-binomial', eta: 1, gamma: 0.1 }) - 10) < 1e-12); // geometric: 1/γ
    const logarithmic = expectedTrials({ kind: 'truncated-negative-binomial', eta: 0, gamma: 0.1 });
    assert.ok(Math.abs(logarithmic - 9 / Math.log(10)) < 1e-12);
    assert.ok(Math.abs(expectedTrials({ kind: 'truncated-negative-binomial', eta: 2, gamma: 0.1 }) - (2 * 0.9) / (0.1 * 0.99)) < 1e-12);
    assert.equal(expectedTrials({ kind: 'poisson', mu: 4 }), 4);
  });

  it('Theorem 2: ε′(λ) = ε(λ) + min_λ̂ (1+η)[(1 − 1/λ̂)ε(λ̂) + log(1/γ)/λ̂] + log E[K]/(λ − 1), then its least at orders ≥ λ', () => {
    const eta = 1;
    const gamma = 0.05;
    const L = Math.log(1 / gamma);
    // (1 − 1/λ̂)·λ̂/(2σ²) + L/λ̂ is least at λ̂ = σ√(2L), where it is √(2L)/σ − 1/(2σ²).
    const best = (1 + eta) * (Math.sqrt(2 * L) / sigma - 1 / (2 * sigma * sigma));
    const bound = (lambda: number) => gaussian(lambda) + best + L / (lambda - 1);
    // λ/(2σ²) + L/(λ − 1) falls until λ = 1 + σ√(2L), so below it RDP's monotonicity in λ gives the value there.
    const turn = 1 + sigma * Math.sqrt(2 * L);
    const rdp = randomTrialsRdp(orders, orders.map(gaussian), { kind: 'truncated-negative-binomial', eta, gamma });
    for (const k of [0, 99, 999, 5000]) {
      const lambda = orders[k];
      const expected = lambda < turn ? bound(turn) : bound(lambda);
      assert.ok(Math.abs(rdp[k] - expected) < 1e-6, `λ = ${lambda}: ${rdp[k]} vs ${expected}`);
    }
  });

  it('Theorem 6 (Poisson): ε′ = ε + μδ̂ + log μ/(λ − 1), δ̂ at ε̂ = log(1 + 1/(λ − 1))', () => {
    const few = [2, 4, 8, 16, 32, 64];
    const rdp = randomTrialsRdp(few, few.map(gaussian), { kind: 'poisson', mu: 10 });
    few.forEach((lambda, k) => {
      const extra = rdp[k] - gaussian(lambda) - Math.log(10) / (lambda - 1);
      assert.ok(extra >= 0 && extra <= 10, `μδ̂ at λ = ${lambda}: ${extra}`);
    });
  });

  it('the search costs more with more expected trials', () => {
    const few = randomTrialsEpsilon(gaussian, { kind: 'truncated-negative-binomial', eta: 1, gamma: 0.5 }, 1e-6);
    const many = randomTrialsEpsilon(gaussian, { kind: 'truncated-negative-binomial', eta: 1, gamma: 0.05 }, 1e-6);
    const poisson = randomTrialsEpsilon(gaussian, { kind: 'poisson', mu: 10 }, 1e-6);
    assert.equal(few.expectedTrials, 2);
    assert.ok(many.epsilon > few.epsilon && poisson.epsilon > few.epsilon);
    assert.throws(() => randomTrialsEpsilon(gaussian, { kind: 'truncated-negative-binomial', eta: -2, gamma: 0.5 }, 1e-6), /eta = -2/);
    assert.throws(() => randomTrialsEpsilon(gaussian, { kind: 'poisson', mu: 0 }, 1e-6), /mu = 0/);
  });
});

interface RepeatAndSelectCase {
  trial: { sampling_rate: number; noise_multiplier: number; steps: number; gaussian_noise_multiplier: number };
  mean: number;
  /** dp-accounting's shape; null is ∞ (Poisson). */
  shape: number | null;
  gamma: number | null;
  delta: number;
  orders: number[];
  trial_rdp: Array<number | null>;
  rdp: Array<number | null>;
  epsilon: number;
  optimal_order: number;
}

const reference: RepeatAndSelectCase[] = JSON.parse(
  readFileSync(path.join(__dirname, '..', 'fixtures', 'privacy', 'accounting-reference.json'), 'utf8'),
).repeat_and_select;
const SHAPE_KINDS = new Map<number | null, TrialCountKind>([
  [null, 'poisson'],
  [1, 'geometric'],
  [0, 'logarithmic'],
]);
const relative = (ours: number, ref: number) => (ours === ref ? 0 : Math.abs(ours - ref) / Math.abs(ref));
/** null in the fixture is +∞ (JSON has no infinity). */
const value = (x: number | null) => x ?? Number.POSITIVE_INFINITY;

describe('against dp-accounting’s RepeatAndSelectDpEvent', () => {
  // dp-accounting takes log of the requested mean; we take log E[K] of the γ actually drawn from, which its bisection
  // (ours the same) leaves up to 1e-9 above the mean: up to 1e-9/(λ − 1) on the RDP. All else agrees to rounding.
  const TOLERANCE = 1e-9;
  const trialRdp = (c: RepeatAndSelectCase) => {
    const { sampling_rate: samplingRate, noise_multiplier: noiseMultiplier, steps, gaussian_noise_multiplier: g } = c.trial;
    const dpSgd = composedRdp({ samplingRate, noiseMultiplier, steps }, c.orders);
    return c.orders.map((order, k) => dpSgd[k] + order / (2 * g * g));
  };
  const label = (c: RepeatAndSelectCase) =>
    `q=${c.trial.sampling_rate} σ=${c.trial.noise_multiplier} T=${c.trial.steps} + Gaussian σ=${c.trial.gaussian_noise_multiplier}, ` +
    `${SHAPE_KINDS.get(c.shape)} mean ${c.mean}`;

  it(`the trial's and the search's RDP per order and ε at δ agree within ${TOLERANCE} relative (${reference.length} cases)`, () => {
    assert.deepEqual([...new Set(reference.map((c) => c.shape))].sort(), [0, 1, null]);
    for (const c of reference) {
      const d = trialCountDistribution(SHAPE_KINDS.get(c.shape) as TrialCountKind, c.mean);
      if (c.gamma !== null) assert.ok(relative((d as { gamma: number }).gamma, c.gamma) <= TOLERANCE, `${label(c)}: γ`);
      const trial = trialRdp(c);
      const search = randomTrialsRdp(c.orders, trial, d);
      c.orders.forEach((order, k) => {
        assert.ok(
          relative(trial[k], value(c.trial_rdp[k])) <= TOLERANCE,
          `${label(c)} order ${order}: trial ${trial[k]} vs ${c.trial_rdp[k]}`,
        );
        assert.ok(relative(search[k], value(c.rdp[k])) <= TOLERANCE, `${label(c)} order ${order}: search ${search[k]} vs ${c.rdp[k]}`);
      });
      const ours = randomTrialsEpsilon((order) => trial[c.orders.indexOf(order)], d, c.delta, c.orders);
      assert.ok(relative(ours.epsilon, c.epsilon) <= TOLERANCE, `${label(c)}: ε ${ours.epsilon} vs ${c.epsilon}`);
      assert.equal(ours.order, c.optimal_order, label(c));
    }
  });
});

describe('number of trials', () => {
  const seeded = (seed: number) => {
    const rng = new Rng([seed, 14]);
    return () => rng.uniform();
  };
  /** Standard deviation of K. */
  const sd = (d: TrialCountDistribution): number => {
    if (d.kind === 'poisson') return Math.sqrt(d.mu);
    const { eta, gamma } = d;
    if (eta === 1) return Math.sqrt(1 - gamma) / gamma;
    // Logarithmic: E[K²] = (1 − γ)/(γ² log(1/γ)).
    return Math.sqrt((1 - gamma) / (gamma * gamma * Math.log(1 / gamma)) - expectedTrials(d) ** 2);
  };

  it('draws K with mean E[K] (20,000 draws within 4 standard errors); only the Poisson count can be 0', () => {
    const n = 20_000;
    for (const kind of ['poisson', 'geometric', 'logarithmic'] as const) {
      for (const mean of [3, 12]) {
        const d = trialCountDistribution(kind, mean);
        const uniform = seeded(mean);
        const draws = Array.from({ length: n }, () => drawTrialCount(d, uniform));
        const average = draws.reduce((a, b) => a + b, 0) / n;
        const error = sd(d) / Math.sqrt(n);
        assert.ok(Math.abs(average - mean) < 4 * error, `${kind} mean ${mean}: average ${average} (standard error ${error})`);
        assert.ok(draws.every(Number.isSafeInteger));
        const least = Math.min(...draws);
        assert.ok(kind === 'poisson' ? least >= 0 : least >= 1, `${kind}: least draw ${least}`);
        if (kind === 'poisson' && mean === 3) assert.equal(least, 0); // P(K = 0) = e^−3: ~1,000 of the draws
      }
    }
  });

  it('inverts the CDF: K is the least k with F(k) > u', () => {
    const at = (d: TrialCountDistribution, us: number[]) => us.map((u) => drawTrialCount(d, () => u));
    // Poisson(2): F = e^−2·(1, 3, 5, 19/3, 7) = 0.1353, 0.4060, 0.6767, 0.8571, 0.9473 at k = 0..4.
    const poisson: TrialCountDistribution = { kind: 'poisson', mu: 2 };
    assert.deepEqual(at(poisson, [0, 0.135, 0.1354, 0.405, 0.4061, 0.67, 0.86, 0.95]), [0, 0, 1, 1, 2, 2, 4, 5]);
    // Geometric γ = 1/4: F(k) = 1 − (3/4)^k = 0.25, 0.4375, 0.578 at k = 1..3; F(1) = 0.25 is not > 0.25.
    const geometric: TrialCountDistribution = { kind: 'truncated-negative-binomial', eta: 1, gamma: 0.25 };
    assert.deepEqual(at(geometric, [0, 0.2, 0.25, 0.43, 0.44, 0.57, 0.58]), [1, 1, 2, 2, 3, 3, 4]);
    // Logarithmic γ = 1/2: p_k = 2^−k/(k·ln 2), F = 0.7213, 0.9017, 0.9618, 0.9843 at k = 1..4.
    const logarithmic: TrialCountDistribution = { kind: 'truncated-negative-binomial', eta: 0, gamma: 0.5 };
    assert.deepEqual(at(logarithmic, [0, 0.72, 0.73, 0.9, 0.91, 0.96, 0.97, 0.99]), [1, 1, 2, 2, 3, 3, 4, 5]);
    // u just below 1 ends in the far tail, not in an endless loop.
    assert.ok(drawTrialCount(logarithmic, () => 1 - 2 ** -53) > 30);
    assert.ok(drawTrialCount({ kind: 'poisson', mu: 1000 }, () => 0.5) > 900); // e^−1000 underflows: summed in log space
  });

  it('maps (kind, mean) to dp-accounting’s distributions and refuses what it cannot draw', () => {
    assert.deepEqual(trialCountDistribution('poisson', 12), { kind: 'poisson', mu: 12 });
    assert.deepEqual(trialCountDistribution('geometric', 12), { kind: 'truncated-negative-binomial', eta: 1, gamma: 1 / 12 });
    const logarithmic = trialCountDistribution('logarithmic', 12);
    assert.ok(relative(expectedTrials(logarithmic), 12) < 1e-8 && expectedTrials(logarithmic) >= 12);
    assert.deepEqual(trialCountDistribution('geometric', 1), { kind: 'truncated-negative-binomial', eta: 1, gamma: 1 });
    assert.equal(
      drawTrialCount(trialCountDistribution('geometric', 1), () => 0.999),
      1,
    );
    assert.throws(() => trialCountDistribution('poisson', 0.5), /mean = 0\.5: .* >= 1/);
    assert.throws(() => trialCountDistribution('geometric', Number.NaN), /mean = NaN/);
    assert.throws(() => trialCountDistribution('logarithmic', 1), /mean = 1: a logarithmic number of trials needs mean > 1/);
    assert.throws(() => drawTrialCount({ kind: 'truncated-negative-binomial', eta: 2, gamma: 0.5 }, () => 0.5), /eta = 2/);
    assert.throws(() => drawTrialCount({ kind: 'poisson', mu: 3 }, () => 1), /uniform\(\) = 1/);
  });

  it('secureUniform draws 53-bit doubles in [0, 1)', () => {
    const draws = Array.from({ length: 2000 }, secureUniform);
    assert.ok(draws.every((u) => u >= 0 && u < 1 && Number.isInteger(u * 2 ** 53)));
    assert.equal(new Set(draws).size, draws.length);
    const average = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.abs(average - 0.5) < 4 * Math.sqrt(1 / 12 / draws.length), `average ${average}`);
  });
});
