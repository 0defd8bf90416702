// The API's plain-JS forward pass scores exactly like the bundle's TensorFlow.js model.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { selectBackend } from '../../ml/tensorflow';
import type { ServingModel } from '../../serving/champion-watcher';
import { mlpScorer, scorerFor } from '../../serving/forward';
import { testFeatureRows, testServingModel } from '../api-model';

const maxDifference = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

describe('API forward pass', () => {
  let model: ServingModel;
  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    model = await testServingModel('1', 3);
  });
  after(() => model.loaded.dispose());

  it('equals loaded.predict within 1e-6 on 2000 realistic rows, one row at a time and as a batch', () => {
    const js = mlpScorer(model.loaded);
    assert.ok(js, 'the bundle MLP is compiled to plain JS');
    const rows = testFeatureRows(2000, 11);
    const expected = model.loaded.predict(rows, 2000);
    const batch = js(rows, 2000);
    assert.ok(maxDifference(batch, expected) <= 1e-6, `max |Δ| = ${maxDifference(batch, expected)}`);
    for (let i = 0; i < 50; i++) {
      const one = js(rows.subarray(i * 15, (i + 1) * 15), 1);
      assert.ok(Math.abs(one[0] - expected[i]) <= 1e-6, `row ${i}: ${one[0]} vs ${expected[i]}`);
    }
    const spread = new Set(Array.from(batch, (s) => s >= 0.5));
    assert.equal(spread.size, 2, 'the test rows reach both decisions, so the comparison covers both sides');
  });

  it('scorerFor picks a scorer per size that agrees with loaded.predict, and refuses non-finite features', () => {
    const score = scorerFor(model.loaded);
    assert.equal(scorerFor(model.loaded), score, 'compiled once per model');
    for (const n of [1, 256, 257, 3000]) {
      const rows = testFeatureRows(n, n);
      assert.ok(maxDifference(score(rows, n), model.loaded.predict(rows, n)) <= 1e-6, `${n} rows`);
    }
    const bad = testFeatureRows(1);
    bad[0] = Number.NaN;
    assert.throws(() => score(bad, 1), /TX_AMOUNT = NaN: features must be finite/);
  });
});
