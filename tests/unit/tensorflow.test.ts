import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectBackend, type TfBackend, tf } from '../../ml/tensorflow';

// A small MLP with fixed weights, so every backend computes the same function.
function predictOn(input: number[][]): Float32Array {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }),
      tf.layers.dense({ units: 3, activation: 'tanh' }),
      tf.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  const weights = model.getWeights().map((w, i) => {
    const values = Array.from({ length: w.size }, (_, j) => Math.sin(1 + i * 31 + j * 7) * 0.8);
    return tf.tensor(values, w.shape);
  });
  model.setWeights(weights);
  const output = tf.tidy(() => model.predict(tf.tensor2d(input)) as tf.Tensor);
  const values = output.dataSync() as Float32Array;
  output.dispose();
  for (const w of weights) w.dispose();
  model.dispose();
  return values;
}

const input = Array.from({ length: 32 }, (_, r) => Array.from({ length: 4 }, (_, c) => Math.cos(r * 4 + c) * 3));

describe('tensorflow backends', () => {
  it('auto takes the native backend here and logs it', async () => {
    const lines: string[] = [];
    const backend = await selectBackend('auto', (line) => lines.push(line));
    assert.equal(backend, 'tensorflow');
    assert.equal(tf.getBackend(), 'tensorflow');
    assert.match(lines.join('\n'), /tensorflow backend: tensorflow/);
  });

  it('gives the same outputs on tensorflow, wasm and cpu', async () => {
    const outputs = new Map<TfBackend, Float32Array>();
    for (const backend of ['tensorflow', 'wasm', 'cpu'] as const) {
      assert.equal(await selectBackend(backend, () => undefined), backend);
      assert.equal(tf.getBackend(), backend);
      outputs.set(backend, predictOn(input));
    }
    const reference = outputs.get('tensorflow') as Float32Array;
    assert.equal(reference.length, 32);
    assert.ok(new Set(reference).size > 4, 'the model should not be constant');
    for (const backend of ['wasm', 'cpu'] as const) {
      const other = outputs.get(backend) as Float32Array;
      const worst = Math.max(...reference.map((value, i) => Math.abs(value - other[i])));
      assert.ok(worst < 1e-5, `${backend} differs from tensorflow by ${worst}`);
    }
  });

  it('rejects an unknown backend', async () => {
    await assert.rejects(selectBackend('webgl' as TfBackend, () => undefined));
  });

  it('refuses a gpu request it cannot serve instead of falling back to the CPU', async () => {
    // Here the CPU binding holds the 'tensorflow' backend already (and no GPU exists); tests/unit/gpu-worker.test.ts
    // probes the gpu backend in a fresh process.
    const before = tf.getBackend();
    await assert.rejects(
      selectBackend('gpu', () => undefined),
      /@tensorflow\/tfjs-node-gpu/,
    );
    assert.equal(tf.getBackend(), before);
  });
});
