import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBundle, packBundle } from '../../ml/bundle';
import { cardWeights, type EbmModel, gdpEpsilon, gdpMuFor, planEbmNoise, predictEbm, publicBinCuts, trainEbm } from '../../ml/ebm';
import { InvalidInputError } from '../../ml/errors';
import { HANDBOOK_FEATURE_SET } from '../../ml/feature-set';
import { FEATURE_NAMES } from '../../ml/features';
import { rocAuc } from '../../ml/metrics';
import { epsilon } from '../../ml/privacy';
import { buildPrivacyReport } from '../../ml/privacy/report';
import { Rng } from '../../ml/random';
import { applyTransform, fixedTransform, transformStep } from '../../ml/transforms';
import { countBelow } from '../../ml/validation/stats';
import { scorerFor } from '../../serving/forward';

/** Two inputs in [−1, 1]; the label is x0 > 0.2 (x1 is noise). */
function toy(rows: number, seed: number) {
  const rng = new Rng([seed]);
  const x = Float32Array.from({ length: rows * 2 }, () => 2 * rng.uniform() - 1);
  const y = Uint8Array.from({ length: rows }, (_, i) => (x[2 * i] > 0.2 ? 1 : 0));
  return { x, y, rows, cols: 2 };
}
const toyCuts = (bins: number) => Array.from({ length: 2 }, () => Array.from({ length: bins - 1 }, (_, k) => -1 + (2 * (k + 1)) / bins));

describe('EBM accounting', () => {
  it('gives the exact Gaussian (ε, δ) that dp-accounting gives', () => {
    // tools/reference venv: dp_accounting PLDAccountant(1e-5), SelfComposedDpEvent(GaussianDpEvent(σ), k), δ = 1e-6.
    const reference: Array<[number, number, number]> = [
      [2, 1, 2.254084650344999],
      [10, 50, 3.307600722711456],
      [100, 4000, 2.9216005904973956],
    ];
    for (const [sigma, k, expected] of reference) {
      const exact = gdpEpsilon(Math.sqrt(k) / sigma, 1e-6);
      assert.ok(Math.abs(exact - expected) < 1e-7, `σ ${sigma} × ${k}: ${exact} vs ${expected}`);
      // The project's PLD accountant at sampling rate 1 is the same mechanism (pessimistic by its grid only).
      const pld = epsilon({ samplingRate: 1, noiseMultiplier: sigma, steps: k, delta: 1e-6 }, 'pld').epsilon;
      assert.ok(pld >= exact - 1e-9 && pld - exact < 1e-4, `pld ${pld} vs ${exact}`);
    }
  });

  it('calibrates σ to the target ε over every release', () => {
    const plan = planEbmNoise(15, 10, { targetEpsilon: 1, delta: 1e-6 });
    assert.equal(plan.releases, 15 * 11);
    assert.ok(plan.epsilon <= 1 && plan.epsilon > 1 - 1e-9, `ε ${plan.epsilon}`);
    assert.ok(Math.abs(gdpMuFor(1, 1e-6) - 0.2367043806634) < 1e-10); // scipy brentq on the Balle-Wang curve
    const pld = epsilon({ samplingRate: 1, noiseMultiplier: plan.noiseMultiplier, steps: plan.releases, delta: 1e-6 }, 'pld').epsilon;
    assert.ok(Math.abs(pld - 1) < 1e-4, `the ledger's PLD of the equivalent mechanism: ε ${pld}`);
    // The count/residual split keeps μ: Σ 1/σ_i² over the releases equals releases/σ_eq².
    const mu2 = 15 / plan.countNoiseMultiplier ** 2 + 150 / plan.residualNoiseMultiplier ** 2;
    assert.ok(Math.abs(mu2 - plan.releases / plan.noiseMultiplier ** 2) < 1e-12);
  });
});

describe('EBM bins', () => {
  it('come from the public bounds through the transform, never from the data', () => {
    const set = HANDBOOK_FEATURE_SET;
    const transform = fixedTransform(set);
    const cuts = publicBinCuts(transform, set, 16);
    assert.deepEqual(publicBinCuts(transform, set, 16), cuts);
    const wider = publicBinCuts(transform, { ...set, bounds: { ...set.bounds, amount: [0, 1_000_000] } }, 16);
    assert.notDeepEqual(wider[0], cuts[0], 'the amount cuts follow records.bounds');
    assert.deepEqual(cuts[FEATURE_NAMES.indexOf('TX_DURING_WEEKEND')].length, 1);
    // A whole-valued count keeps its bin order through the transform: raw k and k + 1 never swap.
    const j = FEATURE_NAMES.indexOf('CUSTOMER_ID_NB_TX_1DAY_WINDOW');
    const raw = Float64Array.from({ length: 30 }, (_, k) => k);
    const bins = Array.from(raw, (k) => {
      const row = new Float64Array(FEATURE_NAMES.length).fill(1);
      row[j] = k;
      return countBelow(Float64Array.from(cuts[j]), applyTransform(transform, row, 1)[j]);
    });
    assert.ok(bins.every((b, k) => k === 0 || b >= bins[k - 1]) && bins[29] > bins[0]);
    // Two different data sets: the trained models carry exactly the given cuts.
    const a = trainEbm(toy(500, 1), { rounds: 2, learningRate: 0.1, bins: toyCuts(8), dp: null, seed: 0 });
    const b = trainEbm(toy(700, 2), { rounds: 2, learningRate: 0.1, bins: toyCuts(8), dp: null, seed: 0 });
    assert.deepEqual(
      a.model.terms.map((t) => t.cuts),
      toyCuts(8),
    );
    assert.deepEqual(
      b.model.terms.map((t) => t.cuts),
      toyCuts(8),
    );
  });
});

describe('trainEbm', () => {
  it('learns a separable toy problem without DP', () => {
    const train = toy(4000, 3);
    const { model, spent } = trainEbm(train, { rounds: 100, learningRate: 0.2, bins: toyCuts(20), dp: null, seed: 0 });
    assert.equal(spent, null);
    const test = toy(2000, 4);
    const scores = predictEbm(model, test.x, test.rows);
    assert.ok(rocAuc(test.y, scores) > 0.99);
    const correct = scores.filter((s, i) => s > 0.5 === (test.y[i] === 1)).length;
    assert.ok(correct / test.rows > 0.95, `accuracy ${correct / test.rows}`);
    // x1 carries no signal: its term stays flat next to x0's.
    const range = (s: number[]) => Math.max(...s) - Math.min(...s);
    assert.ok(range(model.terms[1].scores) < 0.2 * range(model.terms[0].scores));
  });

  it('spends exactly the target ε with secret noise, and learns through it', () => {
    const train = toy(20_000, 5);
    const options = { rounds: 5, learningRate: 0.5, bins: toyCuts(8), maxLeaves: 3, baseRate: 0.4, seed: 0 };
    const { model, spent } = trainEbm(train, { ...options, dp: { targetEpsilon: 1, delta: 1e-6, unit: 'transaction' } });
    assert.ok(spent);
    assert.ok(spent.epsilon <= 1 && spent.epsilon > 1 - 1e-9);
    assert.equal(spent.steps, 2 * 6);
    assert.equal(spent.samplingRate, 1);
    assert.equal(spent.units, 20_000);
    assert.equal(spent.clipNorm, 1);
    assert.equal(spent.noise.secret, true);
    assert.equal(spent.noise.method, 'discrete-gaussian');
    const test = toy(2000, 6);
    assert.ok(rocAuc(test.y, predictEbm(model, test.x, test.rows)) > 0.9);
    // A public test seed repeats the noise; the report then knows it is not secret.
    const seeded = () =>
      trainEbm(train, { ...options, dp: { noiseMultiplier: 5, delta: 1e-6, unit: 'transaction', insecureNoiseSeed: 7 } });
    const [first, second] = [seeded(), seeded()];
    assert.deepEqual(first.model, second.model);
    assert.equal(first.spent?.noise.secret, false);
  });

  it('refuses DP without a public base rate, and δ ≥ 1/units', () => {
    const train = toy(100, 7);
    const dp = { targetEpsilon: 1, delta: 1e-6, unit: 'transaction' as const };
    assert.throws(() => trainEbm(train, { rounds: 1, learningRate: 0.1, bins: toyCuts(4), dp, seed: 0 }), /baseRate/);
    assert.throws(
      () => trainEbm(train, { rounds: 1, learningRate: 0.1, bins: toyCuts(4), baseRate: 0.5, dp: { ...dp, delta: 0.02 }, seed: 0 }),
      (err: unknown) => err instanceof InvalidInputError && /1\/100/.test(err.message),
    );
  });

  it('bounds a card by its cap in every histogram (card unit)', () => {
    const groups = Int32Array.from({ length: 60 }, (_, i) => (i < 40 ? 0 : i < 45 ? 1 : 2 + (i - 45)));
    const cap = 4;
    const { weights, cards } = cardWeights(groups, cap);
    assert.equal(cards, 17);
    const total = new Float64Array(cards);
    groups.forEach((g, i) => {
      total[g] += weights[i];
    });
    // Any histogram sums weight × value (|value| ≤ 1 for residuals, 1 for counts) over the card's rows: at most its total.
    assert.ok(total.every((t) => t <= cap + 1e-12));
    assert.ok(Math.abs(total[0] - cap) < 1e-12, 'a card over the cap sums to it (up to float64 rounding)');
    assert.equal(weights[50], 1);
    const train = { ...toy(60, 8), groups };
    const { spent } = trainEbm(train, {
      rounds: 2,
      learningRate: 0.1,
      bins: toyCuts(4),
      baseRate: 0.5,
      seed: 0,
      dp: { targetEpsilon: 1, delta: 1e-3, unit: 'card', clipNorm: cap },
    });
    assert.equal(spent?.unit, 'card');
    assert.equal(spent?.units, 17);
    assert.equal(spent?.clipNorm, cap);
  });
});

describe('EBM bundle and serving', () => {
  it('round-trips through the bundle and serving scores it as predictEbm', async () => {
    const set = HANDBOOK_FEATURE_SET;
    const transform = fixedTransform(set);
    const cuts = publicBinCuts(transform, set, 16);
    const rng = new Rng([9]);
    const model: EbmModel = {
      format: 'fraudops-ebm/1',
      intercept: -4.2,
      terms: cuts.map((c) => ({ cuts: c, scores: Array.from({ length: c.length + 1 }, () => rng.uniform() - 0.5) })),
    };
    const files = await packBundle({
      model,
      transform,
      labelDelayDays: 7,
      threshold: 0.3,
      metrics: {},
      privacy: buildPrivacyReport({ spent: null, records: 10, preprocessing: [transformStep(transform)] }),
      createdAt: '2026-01-02T03:04:05.000Z',
    });
    const loaded = await loadBundle(files);
    assert.equal(loaded.model, undefined);
    assert.deepEqual(loaded.ebm, model);
    const rows = 300;
    const raw = Float64Array.from({ length: rows * set.names.length }, (_, k) => {
      const name = set.names[k % set.names.length];
      if (name.includes('RISK')) return rng.uniform() < 0.8 ? 0 : rng.uniform();
      if (name.startsWith('TX_DURING')) return rng.uniform() < 0.3 ? 1 : 0;
      return Math.floor(rng.uniform() * 200);
    });
    const expected = predictEbm(model, applyTransform(transform, raw, rows), rows);
    assert.deepEqual(loaded.predict(raw, rows), expected);
    assert.deepEqual(Float32Array.from(scorerFor(loaded)(raw, rows)), expected);
    assert.ok(new Set(expected).size > rows / 2, 'the scores vary');
  });
});
