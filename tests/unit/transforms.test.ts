import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../ml/errors';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES, type FeatureInput } from '../../ml/features';
import { Rng } from '../../ml/random';
import {
  applyTransform,
  describeTransform,
  fitTransform,
  fixedFeatureMoments,
  fixedTransform,
  PAIRWISE_BOUND,
  parseTransformSpec,
  SIMULATOR_PARAMETERS,
  transformStep,
  transformWidth,
} from '../../ml/transforms';
import { featureInputOf } from '../../serving/online-features';
import { simulate } from '../../simulator';

function randomRows(rows: number, seed: number): Float64Array {
  const rng = new Rng([seed]);
  return Float64Array.from({ length: rows * FEATURE_COUNT }, (_, k) => (k % 2 === 0 ? rng.uniformRange(0, 500) : rng.uniformInt(2)));
}

function column(x: ArrayLike<number>, j: number): number[] {
  return Array.from({ length: x.length / FEATURE_COUNT }, (_, i) => x[i * FEATURE_COUNT + j]);
}

const POPULATION = { customers: 5000, terminals: 10000, days: 45, seed: 3 };
/** Rows from this day on have full 30-day windows (shifted by the 7-day delay for terminals): the steady state. */
const STEADY_FROM_DAY = 37;

/** The simulator's features for the Handbook population (the derivation's parameters) over 45 days, steady-state rows only. */
function simulatedFeatures(): { x: Float64Array; rows: number } {
  const dataset = simulate(POPULATION);
  const steadyFrom = Date.parse(`${dataset.config.startDate}T00:00:00Z`) / 1000 + STEADY_FROM_DAY * 86400;
  const txs: Array<FeatureInput & { fraud: 0 | 1 }> = [];
  let first = -1;
  for (const record of dataset.records()) {
    if (first < 0 && record.time >= steadyFrom) first = txs.length;
    txs.push({ ...featureInputOf(record), fraud: record.label ?? 0 });
  }
  const x = computeFeatures(txs).subarray(first * FEATURE_COUNT);
  return { x, rows: txs.length - first };
}

describe('fixed transform', () => {
  it('never reads the data: the same spec for any training set', () => {
    const a = fitTransform('fixed', randomRows(50, 1), 50);
    const b = fitTransform('fixed', new Float64Array(0), 0);
    assert.deepEqual(a, b);
    assert.deepEqual(a, fixedTransform());
    assert.equal(a.kind, 'fixed');
  });

  it('standardises every feature with its analytic moment: y = (x − mean) / std, no log', () => {
    const spec = fixedTransform();
    const moments = fixedFeatureMoments();
    const x = randomRows(20, 2);
    const y = applyTransform(spec, x, 20);
    FEATURE_NAMES.forEach((name, j) => {
      assert.equal(spec.features[j].log1p, false);
      column(x, j).forEach((v, i) => {
        const expected = (v - moments[j].mean) / moments[j].std;
        assert.ok(Math.abs(y[i * FEATURE_COUNT + j] - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `${name} row ${i}`);
      });
    });
  });

  it('derives the moments from the published parameters in closed form (hand-checked values)', () => {
    const m = Object.fromEntries(FEATURE_NAMES.map((name, j) => [name, fixedFeatureMoments()[j]]));
    const close = (actual: number, expected: number, what: string) =>
      assert.ok(Math.abs(actual - expected) <= 1e-3 * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
    // m ~ U(5, 100): E = 52.5, Var(m) = 95²/12, E[m²] = (25 + 500 + 10⁴)/3; amount sd² = Var(m) + E[m²]/4.
    close(m.TX_AMOUNT.mean, 52.5, 'amount mean');
    close(m.TX_AMOUNT.std, Math.sqrt(95 ** 2 / 12 + 10525 / 12), 'amount std');
    close(m.TX_DURING_WEEKEND.mean, 2 / 7, 'weekend');
    // Customer count over 1 day: 1 + keep·8/3 with keep = 2Φ(2.16) − 1 ≈ 0.96923.
    close(m.CUSTOMER_ID_NB_TX_1DAY_WINDOW.mean, 1 + (0.969229 * 8) / 3, 'customer count 1 day');
    // ≈ 39.3 customers share each terminal, each spreading its transactions over ≈ 78.5 terminals: ≈ 1 a day.
    close(m.TERMINAL_ID_NB_TX_7DAY_WINDOW.mean / 7, 1.00214, 'terminal daily rate');
    close(m.TERMINAL_ID_RISK_30DAY_WINDOW.mean, (2 / 10000) * 28, 'compromised share');
    // A 1-day window is either inside a compromise or not: f is about Bernoulli(a·28) (27 of its 28 + 1 offsets are full).
    close(m.TERMINAL_ID_RISK_1DAY_WINDOW.std, Math.sqrt(2e-4 * (2 / 3 + 27) - (2e-4 * 28) ** 2), 'risk 1 day sd');
    // A longer window averages more amounts: the customer average's spread shrinks towards sd(m) = 95/√12.
    assert.ok(m.CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW.std > m.CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW.std);
    assert.ok(m.CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW.std > 95 / Math.sqrt(12));
    // The moments follow the parameters: doubling the rate cap doubles the customer count's expected excess.
    const doubled = fixedFeatureMoments({ ...SIMULATOR_PARAMETERS, maxTxPerDay: 8 });
    const j = FEATURE_NAMES.indexOf('CUSTOMER_ID_NB_TX_7DAY_WINDOW');
    close(doubled[j].mean - 1, 2 * (m.CUSTOMER_ID_NB_TX_7DAY_WINDOW.mean - 1), 'doubled rate');
  });

  it("matches the simulator: each feature's mean within 0.15 analytic sd of the derivation, its sd within 20 %", () => {
    const { x, rows } = simulatedFeatures();
    assert.ok(rows > 10000, `simulated ${rows} transactions`);
    const moments = fixedFeatureMoments();
    FEATURE_NAMES.forEach((name, j) => {
      const values = column(x, j);
      const mean = values.reduce((s, v) => s + v, 0) / rows;
      const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / rows);
      const expected = moments[j];
      assert.ok(Math.abs(mean - expected.mean) < 0.15 * expected.std, `${name}: mean ${mean} vs ${expected.mean} (sd ${expected.std})`);
      assert.ok(Math.abs(std / expected.std - 1) < 0.2, `${name}: sd ${std} vs ${expected.std}`);
    });
  });

  it('describes itself as data-independent, and the privacy step agrees', () => {
    const spec = fixedTransform();
    assert.match(
      describeTransform(spec),
      /^data-independent: standardised with analytic moments of the simulator's published parameters, no statistics of the data$/,
    );
    assert.deepEqual(transformStep(spec), {
      name: 'feature transform (fixed)',
      treatment: 'data-independent',
      description: describeTransform(spec),
    });
  });
});

describe('standard transform', () => {
  it('fits population mean and std per feature, so the training columns come out with mean 0 and std 1', () => {
    const rows = 300;
    const x = randomRows(rows, 4);
    for (let i = 0; i < rows; i++) x[i * FEATURE_COUNT + 5] = 42; // a constant feature
    const spec = fitTransform('standard', x, rows);
    const y = applyTransform(spec, x, rows);
    FEATURE_NAMES.forEach((name, j) => {
      const values = column(y, j);
      const mean = values.reduce((s, v) => s + v, 0) / rows;
      const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / rows);
      assert.ok(Math.abs(mean) < 1e-5, `${name}: mean ${mean}`);
      if (j === 5) {
        assert.equal(spec.features[j].scale, 1, 'a constant feature keeps scale 1 (scikit-learn)');
        assert.ok(values.every((v) => v === 0));
      } else assert.ok(Math.abs(std - 1) < 1e-5, `${name}: std ${std}`);
    });
  });

  it('depends on the data and says it is not covered by the privacy guarantee', () => {
    const a = fitTransform('standard', randomRows(40, 5), 40);
    const b = fitTransform('standard', randomRows(40, 6), 40);
    assert.notDeepEqual(a.features, b.features);
    assert.match(describeTransform(a), /NOT covered by the privacy guarantee/);
    assert.equal(transformStep(a).treatment, 'not-private');
  });

  it('needs at least one row and finite values', () => {
    assert.throws(() => fitTransform('standard', new Float64Array(0), 0), InvalidInputError);
    const x = randomRows(3, 7);
    x[4] = Number.NaN;
    assert.throws(
      () => fitTransform('standard', x, 3),
      (err: Error) => err instanceof InvalidInputError && err.message.includes(FEATURE_NAMES[4]),
    );
  });
});

describe('applyTransform and the JSON spec', () => {
  it('round-trips through JSON and gives the same output', () => {
    const x = randomRows(10, 8);
    for (const spec of [fixedTransform(), fitTransform('standard', x, 10)]) {
      const parsed = parseTransformSpec(JSON.parse(JSON.stringify(spec)));
      assert.deepEqual(parsed, spec);
      assert.deepEqual(applyTransform(parsed, x, 10), applyTransform(spec, x, 10));
    }
  });

  it('rejects a "fixed" spec whose constants were changed, and malformed specs', () => {
    const tampered = JSON.parse(JSON.stringify(fixedTransform()));
    tampered.features[0].scale = 5;
    assert.throws(() => parseTransformSpec(tampered), /features\[0\] \(TX_AMOUNT\) differs from the documented fixed constants/);
    const renamed = JSON.parse(JSON.stringify(fixedTransform()));
    renamed.features[3].feature = 'OTHER';
    assert.throws(() => parseTransformSpec(renamed), /features\[3\]\.feature = "OTHER"/);
    const zero = JSON.parse(JSON.stringify(fitTransform('standard', randomRows(5, 9), 5)));
    zero.features[2].scale = 0;
    assert.throws(() => parseTransformSpec(zero), /features\[2\]\.scale = 0/);
    assert.throws(() => parseTransformSpec({ ...fixedTransform(), kind: 'minmax' }), /kind = "minmax"/);
    assert.throws(() => parseTransformSpec({ ...fixedTransform(), format: 'x' }), /format/);
    assert.throws(() => fitTransform('minmax' as 'fixed', new Float64Array(0), 0), InvalidInputError);
  });

  it('rejects a wrong shape and inputs whose transform is not finite, naming row and feature', () => {
    const spec = fixedTransform();
    assert.throws(() => applyTransform(spec, new Float64Array(14), 1), /x has 14 values/);
    const x = randomRows(3, 10);
    x[FEATURE_COUNT + 6] = -2; // log1p(-2) is NaN
    const withLog = { ...spec, features: spec.features.map((f, j) => (j === 6 ? { ...f, log1p: true } : f)) };
    assert.doesNotThrow(() => applyTransform(spec, x, 3));
    assert.throws(
      () => applyTransform(withLog, x, 3),
      (err: Error) => err instanceof InvalidInputError && err.message.includes(`row 1, ${FEATURE_NAMES[6]} = -2`),
    );
    x[FEATURE_COUNT + 6] = 1;
    x[2 * FEATURE_COUNT + 1] = Number.POSITIVE_INFINITY;
    assert.throws(() => applyTransform(spec, x, 3), /row 2, TX_DURING_WEEKEND = Infinity/);
  });
});

describe('pairwise products (family quadratic)', () => {
  it('follows the inputs with u_i·u_j for i ≤ j of the inputs clamped to ±PAIRWISE_BOUND over it', () => {
    const spec = fitTransform('fixed', new Float64Array(0), 0, undefined, { pairwise: true });
    const d = FEATURE_COUNT;
    assert.equal(transformWidth(spec), d + (d * (d + 1)) / 2);
    const rows = 7;
    const x = randomRows(rows, 11);
    const plain = applyTransform(fixedTransform(), x, rows);
    const wide = applyTransform(spec, x, rows);
    const width = transformWidth(spec);
    assert.equal(wide.length, rows * width);
    const u = (r: number, j: number) => Math.max(-PAIRWISE_BOUND, Math.min(PAIRWISE_BOUND, plain[r * d + j])) / PAIRWISE_BOUND;
    let clamped = 0;
    for (let r = 0; r < rows; r++) {
      assert.deepEqual(wide.subarray(r * width, r * width + d), plain.subarray(r * d, (r + 1) * d));
      let k = r * width + d;
      for (let i = 0; i < d; i++) {
        if (Math.abs(plain[r * d + i]) > PAIRWISE_BOUND) clamped++;
        for (let j = i; j < d; j++) assert.ok(Math.abs(wide[k++] - u(r, i) * u(r, j)) < 1e-6, `row ${r}, product ${i}·${j}`);
      }
    }
    assert.ok(clamped > 0, 'some inputs exceed the bound, so the clamp is exercised');
    assert.match(describeTransform(spec), /pairwise products of the inputs clamped to ±2 \(a public constant\)/);
  });

  it('reads back only the documented bound', () => {
    const spec = fitTransform('fixed', new Float64Array(0), 0, undefined, { pairwise: true });
    assert.deepEqual(parseTransformSpec(JSON.parse(JSON.stringify(spec))), spec);
    assert.equal(parseTransformSpec(JSON.parse(JSON.stringify(fixedTransform()))).pairwise, undefined);
    assert.throws(
      () => parseTransformSpec({ ...spec, pairwise: { bound: 3 } }),
      /pairwise = {"bound":3}: it must be absent or \{ "bound": 2 \}/,
    );
  });
});
