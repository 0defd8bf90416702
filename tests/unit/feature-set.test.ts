// Model inputs from the record declaration: declared numeric and categorical columns become inputs, the DP transform
// takes them from public bounds, and a bundle carries its feature set to serving.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadBundle } from '../../ml/bundle';
import { categoryBucket, encodeExtras, featureSetOf, HANDBOOK_FEATURE_SET, widenFeatures } from '../../ml/feature-set';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../ml/features';
import { selectBackend } from '../../ml/tensorflow';
import { applyTransform, fixedTransform, parseTransformSpec } from '../../ml/transforms';
import { testBundle } from '../api-model';
import { cardsDeclaration } from '../cards-feed';

const cards = cardsDeclaration({
  columns: { category: { kind: 'categorical', buckets: 4 }, city_pop: { kind: 'numeric', range: [0, 1e7] }, note: 'carried' },
  bounds: { amount: [0, 5000] },
});

describe('feature set', () => {
  it('is the 15 handbook features for the handbook record, and adds declared columns (carried ones are not inputs)', () => {
    assert.deepEqual(HANDBOOK_FEATURE_SET.names, [...FEATURE_NAMES]);
    const set = featureSetOf(cards);
    assert.deepEqual(set.names.slice(FEATURE_COUNT), ['category#0', 'category#1', 'category#2', 'category#3', 'city_pop']);
  });

  it('encodes a category as one hashed indicator, clips a number into its range, and leaves missing values neutral', () => {
    const set = featureSetOf(cards);
    const width = set.names.length;
    const out = new Float64Array(2 * width);
    encodeExtras(set, (c) => ({ category: 'grocery_pos', city_pop: 2e8 })[c], out, 0);
    encodeExtras(set, () => null, out, width);
    const first = Array.from(out.subarray(FEATURE_COUNT, width));
    assert.equal(
      first.slice(0, 4).reduce((a, b) => a + b),
      1,
    );
    assert.equal(first[categoryBucket('grocery_pos', 4)], 1);
    assert.equal(first[4], 1e7, 'clipped to the declared range');
    assert.deepEqual(Array.from(out.subarray(width + FEATURE_COUNT)), [0, 0, 0, 0, 0]);
    const core = new Float64Array(2 * FEATURE_COUNT).fill(3);
    const wide = widenFeatures(set, core, 2, { category: ['a', 'b'], city_pop: [10, 20], note: ['x', 'y'] }, [1, 0]);
    assert.equal(wide.length, 2 * width);
    assert.equal(wide[width - 1], 20, 'rows follow the order');
    assert.equal(widenFeatures(HANDBOOK_FEATURE_SET, core, 2, {}), core);
  });

  it('maps every input from public bounds into [-1, 1] without reading data', () => {
    const set = featureSetOf(cards);
    const spec = fixedTransform(set);
    assert.equal(spec.basis, 'bounds');
    const lo = new Float64Array(set.names.length);
    const hi = new Float64Array(set.names.length);
    spec.features.forEach((f, j) => {
      const name = set.names[j];
      if (name.includes('#')) return;
      const [a, b] =
        name === 'city_pop'
          ? [0, 1e7]
          : name.includes('AMOUNT')
            ? [0, 5000]
            : name.includes('CUSTOMER_ID_NB')
              ? [0, 20 * Number(name.match(/_(\d+)DAY/)?.[1])]
              : name.includes('TERMINAL_ID_NB')
                ? [0, 1000 * Number(name.match(/_(\d+)DAY/)?.[1])]
                : [0, 1];
      lo[j] = a;
      hi[j] = b;
      assert.equal(f.feature, name);
    });
    const low = applyTransform(spec, lo, 1);
    const high = applyTransform(spec, hi, 1);
    set.names.forEach((name, j) => {
      if (name.includes('#')) return;
      assert.ok(Math.abs(low[j] + 1) < 1e-6 && Math.abs(high[j] - 1) < 1e-6, `${name}: ${low[j]} .. ${high[j]}`);
    });
    assert.throws(() => parseTransformSpec({ ...spec, features: spec.features.slice(1) }, set), /inputs of the feature set/);
    assert.throws(() => parseTransformSpec(spec, HANDBOOK_FEATURE_SET), /15 inputs/);
  });

  it('travels in the bundle: a wider model packs, loads and scores rows of its own width', async () => {
    await selectBackend('cpu');
    const set = featureSetOf(cards);
    const width = set.names.length;
    const files = await testBundle(3, undefined, set);
    const loaded = await loadBundle(files);
    try {
      assert.deepEqual(loaded.features.names, set.names);
      const scores = loaded.predict(new Float64Array(2 * width).fill(1), 2);
      assert.equal(scores.length, 2);
      assert.ok(scores.every((s) => s > 0 && s < 1));
    } finally {
      loaded.dispose();
    }
  });
});
