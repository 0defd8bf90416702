import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  BUNDLE_FILES,
  BundleIntegrityError,
  type BundleParts,
  loadBundle,
  type ModelBundleFiles,
  packBundle,
  REFERENCE_FILE,
  verifyBundle,
} from '../../ml/bundle';
import type { MlpParameters } from '../../ml/dpsgd/types';
import { InvalidInputError } from '../../ml/errors';
import { HANDBOOK_FEATURE_SET } from '../../ml/feature-set';
import { FEATURE_COUNT } from '../../ml/features';
import { buildPrivacyReport, renderPrivacyReport } from '../../ml/privacy';
import { selectBackend, tf } from '../../ml/tensorflow';
import { applyTransform, fitTransform, fixedTransform, PAIRWISE_BOUND, transformStep } from '../../ml/transforms';
import { publicReferenceStatistics } from '../../ml/validation/public-reference';
import { scorerFor } from '../../serving/forward';
import { testFeatureRows, testMlp, testPrivacySpent } from '../api-model';

/** The MLP computed directly in float64 from its weights (relu … sigmoid), independently of TensorFlow.js. */
function directScores(params: MlpParameters, inputs: Float32Array, rows: number): Float64Array {
  const scores = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let activation = Array.from(inputs.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT));
    params.layers.forEach(({ weights, bias }, l) => {
      const out = bias.length;
      const next = Array.from(bias);
      for (let a = 0; a < activation.length; a++) for (let b = 0; b < out; b++) next[b] += activation[a] * weights[a * out + b];
      activation = l === params.layers.length - 1 ? next.map((z) => 1 / (1 + Math.exp(-z))) : next.map((z) => Math.max(0, z));
    });
    scores[i] = activation[0];
  }
  return scores;
}

function parts(overrides: Partial<BundleParts> = {}): BundleParts {
  const transform = fixedTransform();
  return {
    model: testMlp(1, [16, 8]),
    transform,
    labelDelayDays: 7,
    threshold: 0.42,
    metrics: { averagePrecision: 0.61, rocAuc: 0.87, confusion: { tp: 3, fp: 1, tn: 90, fn: 6 } },
    privacy: buildPrivacyReport({
      spent: testPrivacySpent(),
      records: 100_000,
      preprocessing: [transformStep(transform)],
      threshold: { value: 0.42, split: 'validation' },
    }),
    extraFiles: [['plots/pr.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>']],
    createdAt: '2026-01-02T03:04:05.000Z',
    ...overrides,
  };
}

function integrityError(file: string, problem: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof BundleIntegrityError, `expected a BundleIntegrityError, got ${err}`);
    assert.equal(err.name, 'BundleIntegrityError');
    assert.equal(err.file, file, err.message);
    assert.equal(err.problem, problem, err.message);
    assert.ok(err.message.includes(file));
    return true;
  };
}

const copy = (files: ModelBundleFiles): ModelBundleFiles => new Map([...files].map(([name, content]) => [name, Uint8Array.from(content)]));

describe('model bundle', () => {
  let files: ModelBundleFiles;
  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    files = await packBundle(parts());
  });

  it('lists every file in a manifest whose bundleSha256 identifies the bundle', async () => {
    const manifest = verifyBundle(files);
    assert.equal(manifest.format, 'fraudops-model-bundle/1');
    assert.deepEqual(Object.keys(manifest.files).sort(), [...files.keys()].filter((n) => n !== BUNDLE_FILES.manifest).sort());
    assert.match(manifest.bundleSha256, /^[0-9a-f]{64}$/);
    const again = await packBundle(parts());
    assert.deepEqual(again, files, 'the same parts give the same bytes');
    const later = verifyBundle(await packBundle(parts({ createdAt: '2026-01-02T03:04:06.000Z' })));
    assert.notEqual(later.bundleSha256, manifest.bundleSha256);
    const otherModel = verifyBundle(await packBundle(parts({ model: testMlp(2, [16, 8]) })));
    assert.notEqual(otherModel.files[BUNDLE_FILES.weights].sha256, manifest.files[BUNDLE_FILES.weights].sha256);
    assert.notEqual(otherModel.bundleSha256, manifest.bundleSha256);
  });

  it('round trip: the loaded LayersModel scores like the weights computed directly (within 1e-6)', async () => {
    const p = parts();
    const loaded = await loadBundle(files);
    try {
      assert.ok(loaded.model instanceof tf.LayersModel);
      const rows = 500;
      const x = testFeatureRows(rows, 3);
      const scores = loaded.predict(x, rows);
      const expected = directScores(p.model as MlpParameters, applyTransform(p.transform, x, rows), rows);
      assert.equal(scores.length, rows);
      const worst = Math.max(...scores.map((s, i) => Math.abs(s - expected[i])));
      assert.ok(worst <= 1e-6, `largest difference ${worst}`);
      assert.ok(new Set(scores).size > rows / 2, 'the scores vary');
      assert.equal(loaded.threshold, p.threshold);
      assert.deepEqual(loaded.features, { ...HANDBOOK_FEATURE_SET, labelDelayDays: 7 });
      assert.deepEqual(loaded.transform, p.transform);
      assert.deepEqual(loaded.metrics, p.metrics);
      assert.deepEqual(loaded.privacy, p.privacy);
      assert.equal(loaded.privacyMarkdown, renderPrivacyReport(p.privacy));
      assert.deepEqual(loaded.predict(new Float64Array(0), 0), new Float32Array(0));
      assert.throws(() => loaded.predict(new Float64Array(FEATURE_COUNT - 1), 1), InvalidInputError);
    } finally {
      loaded.dispose();
    }
  });

  it('a quadratic model takes the inputs and their pairwise products: packed, loaded and served alike', async () => {
    const transform = fitTransform('fixed', new Float64Array(0), 0, HANDBOOK_FEATURE_SET, { pairwise: true });
    const width = FEATURE_COUNT + (FEATURE_COUNT * (FEATURE_COUNT + 1)) / 2;
    await assert.rejects(packBundle(parts({ transform, model: testMlp(7, [], FEATURE_COUNT) })), /model\.inputs = 15: .* 135 inputs/);
    const model = testMlp(7, [], width);
    const loaded = await loadBundle(await packBundle(parts({ transform, model })));
    try {
      const rows = 40;
      const x = testFeatureRows(rows, 8);
      const inputs = applyTransform(transform, x, rows);
      const expected = Array.from({ length: rows }, (_, r) => {
        let z = model.layers[0].bias[0];
        for (let j = 0; j < width; j++) z += inputs[r * width + j] * model.layers[0].weights[j];
        return 1 / (1 + Math.exp(-z));
      });
      for (const scores of [loaded.predict(x, rows), scorerFor(loaded)(x, rows)]) {
        assert.ok(Math.max(...Array.from(scores, (s, i) => Math.abs(s - expected[i]))) <= 1e-6);
      }
      assert.deepEqual(loaded.transform.pairwise, { bound: PAIRWISE_BOUND });
    } finally {
      loaded.dispose();
    }
  });

  it('serves with the transform it was packed with (standard transform too)', async () => {
    const train = testFeatureRows(200, 4);
    const transform = fitTransform('standard', train, 200);
    const model = testMlp(5, [5]);
    const loaded = await loadBundle(await packBundle(parts({ transform, model })));
    try {
      const x = testFeatureRows(50, 6);
      const expected = directScores(model, applyTransform(transform, x, 50), 50);
      const scores = loaded.predict(x, 50);
      assert.ok(Math.max(...scores.map((s, i) => Math.abs(s - expected[i]))) <= 1e-6);
    } finally {
      loaded.dispose();
    }
  });

  it('a change to any byte of any file is a BundleIntegrityError naming that file', () => {
    let checked = 0;
    for (const [name, content] of files) {
      for (let at = 0; at < content.length; at++) {
        const tampered = copy(files);
        const bytes = tampered.get(name) as Uint8Array;
        bytes[at] ^= at % 2 === 0 ? 0x01 : 0x80;
        const problem = name === BUNDLE_FILES.manifest ? 'bad-manifest' : 'hash-mismatch';
        assert.throws(() => verifyBundle(tampered), integrityError(name, problem), `${name} byte ${at}`);
        checked++;
      }
    }
    assert.ok(checked > 5000, `${checked} bytes tampered`);
  });

  it('a missing file, a truncated one or a file not in the manifest is refused, named', async () => {
    for (const name of files.keys()) {
      const missing = copy(files);
      missing.delete(name);
      assert.throws(() => verifyBundle(missing), integrityError(name, 'missing'));
      await assert.rejects(loadBundle(missing), integrityError(name, 'missing'));
    }
    const truncated = copy(files);
    truncated.set(BUNDLE_FILES.weights, (truncated.get(BUNDLE_FILES.weights) as Uint8Array).subarray(4));
    assert.throws(() => verifyBundle(truncated), integrityError(BUNDLE_FILES.weights, 'size-mismatch'));
    const extra = copy(files);
    extra.set('plots/roc.svg', new Uint8Array([60]));
    assert.throws(() => verifyBundle(extra), integrityError('plots/roc.svg', 'unexpected'));
    for (const name of ['constructor', 'toString', '__proto__']) {
      const inherited = copy(files);
      inherited.set(name, new Uint8Array([1]));
      assert.throws(() => verifyBundle(inherited), integrityError(name, 'unexpected'), name);
    }
  });

  it('rejects bad parts, naming the field', async () => {
    const model = testMlp(7, [4]);
    model.layers[1].bias = new Float32Array(2);
    await assert.rejects(packBundle(parts({ model })), /model\.layers\[1\]\.bias has 2 values/);
    await assert.rejects(packBundle(parts({ model: { ...testMlp(7, [4]), inputs: 14 } })), /model\.inputs = 14/);
    await assert.rejects(packBundle(parts({ threshold: 1.5 })), /threshold = 1\.5/);
    await assert.rejects(packBundle(parts({ createdAt: '2026-01-02' })), /createdAt/);
    for (const name of ['../escape.svg', '/abs.svg', 'plots/../x', 'manifest.json', 'model.json', 'a//b']) {
      await assert.rejects(packBundle(parts({ extraFiles: [[name, 'x']] })), InvalidInputError, name);
    }
  });

  it('carries a reference.json only in public bins: statistics binned by the data are refused', async () => {
    const rows = 50;
    const reference = publicReferenceStatistics(testFeatureRows(rows, 3), rows, HANDBOOK_FEATURE_SET, 'training split');
    const packed = await packBundle(parts({ extraFiles: [[REFERENCE_FILE, JSON.stringify(reference)]] }));
    assert.ok(packed.has(REFERENCE_FILE));
    const exact = { kind: 'fraudops.validation.reference', version: 1, rows, labels: 'required', features: [] };
    await assert.rejects(packBundle(parts({ extraFiles: [[REFERENCE_FILE, JSON.stringify(exact)]] })), /basis must be 'public-bins'/);
  });
});
