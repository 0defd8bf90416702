// DP-SGD trainer: ghost norms and clipped sums against brute-force per-example gradients (tf autodiff), the noise
// and sampling distributions, checkpoint / resume, σ calibration, learning, validation and tensor hygiene.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DpSgdTrainer, type MlpParameters, predictMlp, type TrainerOptions, type TrainingData } from '../../ml/dpsgd';
import { CryptoStream } from '../../ml/dpsgd/csprng';
import { clipFactor, flatGradient, gradientBlocks, normFactors, rowClipFactors, squaredNormsFromFactors } from '../../ml/dpsgd/ghost';
import { backward, disposeLayers, forward, initialParameters, layerShapes, outputDelta, uploadLayers } from '../../ml/dpsgd/mlp';
import { planNoiseGrid } from '../../ml/dpsgd/noise';
import { scheduledRate } from '../../ml/dpsgd/optimizer';
import { PoissonSampler } from '../../ml/dpsgd/sampling';
import { InvalidInputError } from '../../ml/errors';
import { rocAuc } from '../../ml/metrics';
import { epsilon } from '../../ml/privacy';
import { Rng } from '../../ml/random';
import { selectBackend, tf } from '../../ml/tensorflow';
import { autodiffGradient } from '../mlp-autodiff';

/** Two Gaussian blobs: positives shifted by `shift` in the first two features. */
function blobs(rows: number, cols: number, positiveShare: number, shift: number, seed: number): TrainingData {
  const rng = new Rng([seed]);
  const x = new Float32Array(rows * cols);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    y[r] = rng.uniform() < positiveShare || r === 0 ? 1 : 0;
    for (let c = 0; c < cols; c++) x[r * cols + c] = rng.normal() + (c < 2 ? shift * y[r] : 0);
  }
  y[1] = 0;
  return { x, y, rows, cols };
}

function dpOptions(
  overrides: Partial<TrainerOptions> = {},
  privacy: Partial<Extract<TrainerOptions['privacy'], { mode: 'dp' }>> = {},
): TrainerOptions {
  return {
    hidden: [8, 4],
    epochs: 2,
    learningRate: 0.05,
    optimizer: 'adam',
    seed: 7,
    ...overrides,
    privacy: { mode: 'dp', clipNorm: 1, delta: 1e-4, samplingRate: 0.05, noiseMultiplier: 1.1, ...privacy },
  };
}

function flatParams(params: MlpParameters): Float32Array {
  return Float32Array.from(params.layers.flatMap(({ weights, bias }) => [...weights, ...bias]));
}

async function runAll(trainer: DpSgdTrainer): Promise<MlpParameters> {
  const params = await trainer.run();
  trainer.dispose();
  return params;
}

before(async () => {
  await selectBackend('tensorflow', () => undefined);
});

describe('ghost norms and the clipped sum', () => {
  for (const hidden of [[7, 4], [6], []]) {
    it(`equal brute-force per-example gradients from tf autodiff (1e-5), hidden ${JSON.stringify(hidden)}`, () => {
      const inputs = 5;
      const batch = 12;
      const positiveWeight = 3;
      const rng = new Rng([11, hidden.length]);
      const shapes = layerShapes(inputs, hidden);
      const flat = initialParameters(shapes, rng);
      for (let j = 0; j < flat.length; j++) flat[j] += rng.normal(0, 0.3); // non-zero biases too
      const x = Array.from({ length: batch }, () => Array.from({ length: inputs }, () => rng.normal()));
      const y = Array.from({ length: batch }, (_, i) => (i % 3 === 0 ? 1 : 0));
      const w = y.map((label) => (label ? positiveWeight : 1));

      // Brute force: the gradient of each example's loss by autodiff, through ordinary dense layers.
      const perExample = x.map((row, i) => autodiffGradient(flat, shapes, row, y[i], w[i]));
      const norms = perExample.map((g) => Math.sqrt(g.reduce((s, v) => s + v * v, 0)));
      const clipNorm = [...norms].sort((a, b) => a - b)[batch / 2]; // half the examples get clipped
      const expectedSum = new Float64Array(flat.length);
      perExample.forEach((g, i) => {
        const c = Math.min(1, clipNorm / norms[i]);
        for (let j = 0; j < g.length; j++) expectedSum[j] += c * g[j];
      });
      const expectedPlain = new Float64Array(flat.length);
      for (const g of perExample) for (let j = 0; j < g.length; j++) expectedPlain[j] += g[j];

      const layers = uploadLayers(flat, shapes);
      const inputNorms = x.map((row) => row.reduce((sum, v) => sum + v * v, 1));
      const clippedSum = (factors: Float32Array | null) => {
        const blocks = tf.tidy(() => {
          const augmented = tf.tensor2d(x.map((row) => [...row, 1]));
          const pass = forward(layers, augmented);
          const deltas = backward(layers, pass, outputDelta(pass.logits, tf.tensor2d(y, [batch, 1]), tf.tensor2d(w, [batch, 1])));
          return gradientBlocks(pass.inputs, deltas, factors && tf.tensor2d(factors, [batch, 1]));
        });
        const sum = flatGradient(blocks, shapes, flat.length);
        tf.dispose(blocks);
        return sum;
      };
      let ghostSquared: Float64Array = new Float64Array(0);
      let factors: Float32Array = new Float32Array(0);
      tf.tidy(() => {
        const augmented = tf.tensor2d(x.map((row) => [...row, 1]));
        const pass = forward(layers, augmented);
        const deltas = backward(layers, pass, outputDelta(pass.logits, tf.tensor2d(y, [batch, 1]), tf.tensor2d(w, [batch, 1])));
        ghostSquared = squaredNormsFromFactors(normFactors(pass.inputs, deltas).dataSync(), inputNorms);
        factors = rowClipFactors(pass.inputs, deltas, inputNorms, clipFactor(clipNorm));
      });
      const clipped = clippedSum(factors);
      const plain = clippedSum(null);
      const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) => {
        assert.equal(actual.length, expected.length);
        for (let j = 0; j < expected.length; j++) {
          assert.ok(
            Math.abs(actual[j] - expected[j]) <= 1e-5 * Math.max(1, Math.abs(expected[j])),
            `${what}[${j}]: ${actual[j]} vs ${expected[j]}`,
          );
        }
      };
      close(Array.from(ghostSquared, Math.sqrt), norms, 'norm');
      close(clipped, expectedSum, 'clipped sum');
      close(plain, expectedPlain, 'plain sum');
      const clippedCount = Array.from(factors).filter((c) => c < 1).length;
      assert.ok(clippedCount >= 4 && clippedCount < batch, `${clippedCount} examples clipped`);
      disposeLayers(layers);
    });
  }
});

describe('noise', () => {
  it('the trainer rounds the clipped sum to the grid γ, adds discrete-Gaussian noise of std σ·(C + γ√d) and divides by q·N', () => {
    // q = 1: every row in every sample, so two noise seeds see the same clipped sum; one SGD step at lr 1 differs
    // by γ·(Z₁ − Z₂)/N, a multiple of γ/N with standard deviation √2·σ·(C + γ√d)/N.
    const data = blobs(400, 3, 0.3, 1, 3);
    const clipNorm = 0.5;
    const noiseMultiplier = 2;
    const after = (insecureNoiseSeed: number) => {
      const trainer = DpSgdTrainer.create(
        data,
        dpOptions(
          { hidden: [32, 16], optimizer: 'sgd', learningRate: 1, insecureNoiseSeed },
          { clipNorm, samplingRate: 1, noiseMultiplier, delta: 1e-3 },
        ),
      );
      const initial = flatParams(trainer.parameters());
      trainer.step();
      const params = flatParams(trainer.parameters());
      const spent = trainer.privacySpent();
      trainer.dispose();
      return { initial, params, spent };
    };
    const a = after(1);
    const b = after(2);
    assert.deepEqual(a.initial, b.initial, 'the same seed, the same initialisation');
    const dimension = a.params.length;
    const grid = planNoiseGrid(noiseMultiplier, clipNorm, dimension);
    assert.equal(a.spent?.noise.grid, grid.step);
    assert.equal(a.spent?.noise.inflation, grid.inflation);
    assert.ok(grid.inflation > 1 && grid.inflation < 1 + 2 ** -11, `inflation ${grid.inflation}`);
    assert.equal(a.spent?.noiseMultiplier, noiseMultiplier, 'the accountant sees the planned σ');
    const std = Math.SQRT2 * noiseMultiplier * clipNorm * grid.inflation;
    const z = Array.from(a.params, (p, j) => ((p - b.params[j]) * data.rows) / std);
    const mean = z.reduce((s, v) => s + v, 0) / z.length;
    const sd = Math.sqrt(z.reduce((s, v) => s + (v - mean) ** 2, 0) / (z.length - 1));
    assert.ok(Math.abs(mean) < 5 / Math.sqrt(z.length), `mean ${mean}`);
    assert.ok(Math.abs(sd - 1) < 5 / Math.sqrt(2 * z.length), `sd ${sd} over ${z.length} coordinates`);
  });
});

describe('Poisson sampling', () => {
  const binomialBound = (n: number, p: number) => 5 * Math.sqrt(n * p * (1 - p));

  it('takes each row with probability q, independently', () => {
    const rows = 10_000;
    const q = 0.03;
    const draws = 200;
    const sampler = new PoissonSampler(
      new Uint8Array(rows).map((_, i) => i % 2),
      { negative: q, positive: q },
      new CryptoStream(9, 'sampling'),
    );
    const counts = new Uint32Array(rows);
    const sizes: number[] = [];
    for (let d = 0; d < draws; d++) {
      const sample = sampler.next();
      sizes.push(sample.length);
      assert.equal(new Set(sample).size, sample.length, 'no row twice in one sample');
      for (const row of sample) counts[row]++;
    }
    const total = sizes.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(total - rows * draws * q) < binomialBound(rows * draws, q), `realised rate ${total / (rows * draws)}`);
    for (const [name, from, to] of [
      ['first', 0, 500],
      ['last', rows - 500, rows],
    ] as const) {
      const hits = counts.subarray(from, to).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(hits - 500 * draws * q) < binomialBound(500 * draws, q), `${name} rows' rate ${hits / (500 * draws)}`);
    }
    const mean = total / draws;
    const variance = sizes.reduce((s, v) => s + (v - mean) ** 2, 0) / (draws - 1);
    const expected = rows * q * (1 - q); // binomial sample size, not a fixed batch
    assert.ok(variance > 0.6 * expected && variance < 1.5 * expected, `sample size variance ${variance} vs ${expected}`);
  });

  it('takes each class at its own rate when stratified', () => {
    const labels = new Uint8Array(6000).map((_, i) => (i % 12 === 0 ? 1 : 0)); // 500 positives
    const rates = { positive: 0.4, negative: 0.02 };
    const sampler = new PoissonSampler(labels, rates, new CryptoStream(10, 'sampling'));
    let positives = 0;
    let negatives = 0;
    const draws = 100;
    for (let d = 0; d < draws; d++) {
      for (const row of sampler.next()) {
        if (labels[row]) positives++;
        else negatives++;
      }
    }
    assert.ok(Math.abs(positives - 500 * draws * 0.4) < binomialBound(500 * draws, 0.4), `positive rate ${positives / (500 * draws)}`);
    assert.ok(Math.abs(negatives - 5500 * draws * 0.02) < binomialBound(5500 * draws, 0.02), `negative rate ${negatives / (5500 * draws)}`);
  });

  it('repeats for a seed and differs without one', () => {
    const labels = new Uint8Array(1000).map((_, i) => i % 2);
    const draw = (seed: number | undefined) =>
      new PoissonSampler(labels, { negative: 0.1, positive: 0.1 }, new CryptoStream(seed, 'sampling')).next();
    assert.deepEqual(draw(4), draw(4));
    assert.notDeepEqual(draw(4), draw(5));
    assert.notDeepEqual(draw(undefined), draw(undefined));
  });
});

describe('checkpoint and resume', () => {
  const data = blobs(400, 4, 0.3, 1.5, 21);

  for (const [name, options] of [
    ['DP-SGD with Adam', dpOptions({ insecureNoiseSeed: 3 })],
    [
      'DP-SGD with SGD momentum, stratified',
      dpOptions({ optimizer: 'sgd', momentum: 0.9, insecureNoiseSeed: 4 }, { samplingRate: { positive: 0.1, negative: 0.04 } }),
    ],
    ['non-private', { ...dpOptions(), privacy: { mode: 'off', batchSize: 48 } } satisfies TrainerOptions],
  ] as const) {
    it(`a reproducible run resumed mid-way ends with exactly the uninterrupted run's parameters (${name})`, async () => {
      const whole = DpSgdTrainer.create(data, options);
      let atBreak: Uint8Array | null = null;
      const breakAt = 13;
      const uninterrupted = await whole.run(undefined, {
        checkpointEvery: breakAt,
        onCheckpoint: (bytes, p) => {
          if (p.step === breakAt) atBreak = bytes;
        },
      });
      whole.dispose();

      const first = DpSgdTrainer.create(data, options);
      for (let s = 0; s < breakAt; s++) first.step();
      const bytes = first.checkpoint();
      first.dispose();
      assert.deepEqual(bytes, atBreak, 'a checkpoint holds the same state whichever way it was taken');
      const second = DpSgdTrainer.resume(bytes, data);
      assert.equal(second.privacySpent()?.steps ?? breakAt, breakAt);
      const resumed = await runAll(second);
      assert.deepEqual(flatParams(resumed), flatParams(uninterrupted));
    });
  }

  it('counts privacy steps across resumes, and a run resumes with fresh secret randomness', () => {
    const options = dpOptions();
    const trainer = DpSgdTrainer.create(data, options);
    for (let s = 0; s < 5; s++) trainer.step();
    const bytes = trainer.checkpoint();
    trainer.dispose();

    const a = DpSgdTrainer.resume(bytes, data);
    assert.equal(a.privacySpent()?.steps, 5);
    const progress = a.step();
    assert.equal(progress.step, 6);
    const spent = a.privacySpent();
    assert.ok(spent);
    assert.equal(spent.steps, 6);
    const reference = epsilon({ samplingRate: 0.05, noiseMultiplier: 1.1, steps: 6, delta: 1e-4 }, 'rdp').epsilon;
    assert.equal(spent.epsilon, reference);
    assert.equal(progress.epsilonSpent, reference);
    const twice = DpSgdTrainer.resume(a.checkpoint(), data);
    assert.equal(twice.privacySpent()?.steps, 6);
    twice.dispose();

    const b = DpSgdTrainer.resume(bytes, data);
    b.step();
    assert.notDeepEqual(flatParams(a.parameters()), flatParams(b.parameters()), 'the noise key is not in the checkpoint');
    a.dispose();
    b.dispose();
  });

  it('refuses other data and damaged bytes', () => {
    const trainer = DpSgdTrainer.create(data, dpOptions());
    trainer.step();
    const bytes = trainer.checkpoint();
    trainer.dispose();
    const other = { ...data, x: data.x.map((v, i) => (i === 5 ? v + 1 : v)) };
    assert.throws(
      () => DpSgdTrainer.resume(bytes, other),
      (err: Error) => err instanceof InvalidInputError && /not the data/.test(err.message),
    );
    const damaged = bytes.slice();
    damaged[damaged.length - 100] ^= 1;
    assert.throws(
      () => DpSgdTrainer.resume(damaged, data),
      (err: Error) => err instanceof InvalidInputError && /checksum/.test(err.message),
    );
    assert.throws(() => DpSgdTrainer.resume(bytes.subarray(0, 20), data), InvalidInputError);
  });
});

describe('privacy accounting', () => {
  it('a σ calibrated to a target ε spends at most that ε by the last step, and not much less', async () => {
    const data = blobs(2000, 3, 0.2, 1, 31);
    for (const accountant of ['rdp', 'pld'] as const) {
      const target = 2;
      const trainer = DpSgdTrainer.create(
        data,
        dpOptions({ hidden: [4], epochs: 1 }, { targetEpsilon: target, noiseMultiplier: undefined, samplingRate: 0.05, accountant }),
      );
      const seen: number[] = [];
      await trainer.run((p) => {
        if (p.step % 5 === 0 || p.step === p.totalSteps) seen.push(p.epsilonSpent as number);
      });
      const spent = trainer.privacySpent();
      trainer.dispose();
      assert.ok(spent);
      assert.equal(spent.steps, 20); // epochs / q
      assert.equal(spent.accountant, accountant);
      assert.ok(spent.epsilon <= target && spent.epsilon > 0.995 * target, `${accountant}: ε = ${spent.epsilon} for target ${target}`);
      assert.equal(seen[seen.length - 1], spent.epsilon);
      for (let k = 1; k < seen.length; k++) assert.ok(seen[k] > seen[k - 1], 'ε grows with the steps');
    }
  });

  it('accounts stratified sampling at the larger rate', () => {
    const data = blobs(1000, 3, 0.1, 1, 32);
    const trainer = DpSgdTrainer.create(data, dpOptions({}, { samplingRate: { positive: 0.3, negative: 0.02 } }));
    trainer.step();
    const spent = trainer.privacySpent();
    trainer.dispose();
    assert.equal(spent?.samplingRate, 0.3);
    assert.equal(spent?.epsilon, epsilon({ samplingRate: 0.3, noiseMultiplier: 1.1, steps: 1, delta: 1e-4 }).epsilon);
  });

  it('reports no ε when not private', () => {
    const trainer = DpSgdTrainer.create(blobs(100, 2, 0.5, 1, 33), { ...dpOptions(), privacy: { mode: 'off', batchSize: 10 } });
    assert.equal(trainer.step().epsilonSpent, null);
    assert.equal(trainer.privacySpent(), null);
    trainer.dispose();
  });
});

describe('learning', () => {
  it('non-private mode separates a separable toy problem', async () => {
    const data = blobs(1500, 4, 0.3, 3, 41);
    const params = await runAll(
      DpSgdTrainer.create(data, {
        hidden: [8],
        epochs: 5,
        learningRate: 0.02,
        optimizer: 'adam',
        seed: 1,
        privacy: { mode: 'off', batchSize: 64 },
      }),
    );
    const auc = rocAuc(data.y, predictMlp(params, data.x, data.rows));
    assert.ok(auc > 0.99, `AUC ${auc}`);
  });

  it('DP-SGD still learns it, with a weighted loss and stratified sampling', async () => {
    const data = blobs(3000, 4, 0.05, 3, 42);
    const losses: number[] = [];
    const trainer = DpSgdTrainer.create(
      data,
      dpOptions(
        { hidden: [8], epochs: 3, learningRate: 0.05, positiveWeight: 4 },
        { samplingRate: { positive: 0.2, negative: 0.03 }, delta: 1e-5 },
      ),
    );
    const params = await trainer.run((p) => losses.push(p.loss));
    trainer.dispose();
    const auc = rocAuc(data.y, predictMlp(params, data.x, data.rows));
    assert.ok(auc > 0.97, `AUC ${auc}`);
    const head = losses.slice(0, 10).reduce((s, v) => s + v, 0);
    const tail = losses.slice(-10).reduce((s, v) => s + v, 0);
    assert.ok(tail < head, `loss ${head / 10} → ${tail / 10}`);
  });

  it('predictMlp computes the MLP (plain-JS reference) from Float32 or Float64 inputs', () => {
    const rng = new Rng([3]);
    const params: MlpParameters = {
      inputs: 3,
      hidden: [2],
      layers: [
        { weights: Float32Array.from({ length: 6 }, () => rng.normal()), bias: Float32Array.from([0.1, -0.2]) },
        { weights: Float32Array.from([0.7, -1.1]), bias: Float32Array.from([0.3]) },
      ],
    };
    const x = Float64Array.from({ length: 15 }, () => rng.normal());
    const expected = Array.from({ length: 5 }, (_, r) => {
      const h = [0, 1].map((k) =>
        Math.max(0, params.layers[0].bias[k] + [0, 1, 2].reduce((s, c) => s + x[r * 3 + c] * params.layers[0].weights[c * 2 + k], 0)),
      );
      const z = params.layers[1].bias[0] + h[0] * params.layers[1].weights[0] + h[1] * params.layers[1].weights[1];
      return 1 / (1 + Math.exp(-z));
    });
    for (const input of [x, Float32Array.from(x)]) {
      const scores = predictMlp(params, input, 5);
      for (const [r, s] of scores.entries()) assert.ok(Math.abs(s - expected[r]) < 1e-5, `row ${r}: ${s} vs ${expected[r]}`);
    }
    assert.throws(() => predictMlp(params, x, 4), /x has 15 values/);
  });
});

describe('learning-rate schedule', () => {
  it('cosine decays from the base rate through half at mid-run to 0; none stays constant', () => {
    assert.equal(scheduledRate(0.02, 'cosine', 0, 300), 0.02);
    assert.ok(Math.abs(scheduledRate(0.02, 'cosine', 150, 300) - 0.01) < 1e-15);
    assert.ok(scheduledRate(0.02, 'cosine', 300, 300) < 1e-15);
    assert.ok(scheduledRate(0.02, 'cosine', 100, 300) > scheduledRate(0.02, 'cosine', 200, 300));
    assert.equal(scheduledRate(0.02, 'none', 299, 300), 0.02);
  });
});

describe('validation', () => {
  const data = blobs(200, 3, 0.3, 1, 51);
  const cases: Array<[string, TrainingData, TrainerOptions, RegExp]> = [
    ['hidden width 0', data, dpOptions({ hidden: [4, 0] }), /hidden\[1\]/],
    ['epochs 0', data, dpOptions({ epochs: 0 }), /^epochs/],
    ['learning rate < 0', data, dpOptions({ learningRate: -1 }), /learningRate/],
    ['unknown decay', data, dpOptions({ learningRateDecay: 'step' as 'cosine' }), /learningRateDecay/],
    ['unknown optimizer', data, dpOptions({ optimizer: 'rmsprop' as 'sgd' }), /optimizer/],
    ['momentum with Adam', data, dpOptions({ momentum: 0.9 }), /momentum/],
    ['momentum 1', data, dpOptions({ optimizer: 'sgd', momentum: 1 }), /momentum/],
    ['adam-bc floor with Adam', data, dpOptions({ adamBcFloor: 1e-8 }), /adamBcFloor must be unset unless optimizer is 'adam-bc'/],
    ['adam-bc floor 0', data, dpOptions({ optimizer: 'adam-bc', adamBcFloor: 0 }), /adamBcFloor must be a finite number > 0/],
    ['unknown averaging', data, dpOptions({ averaging: 'polyak' as 'ema' }), /averaging must be one of 'none', 'ema'/],
    ['EMA decay without averaging', data, dpOptions({ emaDecay: 0.9 }), /emaDecay must be unset unless averaging is 'ema'/],
    ['EMA decay 1', data, dpOptions({ averaging: 'ema', emaDecay: 1 }), /emaDecay must be a number in \(0, 1\)/],
    ['unknown clipping', data, dpOptions({}, { clipping: 'soft' as 'flat' }), /privacy\.clipping must be one of 'flat', 'automatic'/],
    ['clipping γ 0', data, dpOptions({}, { clipping: 'automatic', clippingStability: 0 }), /privacy\.clippingStability must be a finite/],
    ['positive weight NaN', data, dpOptions({ positiveWeight: Number.NaN }), /positiveWeight/],
    ['negative seed', data, dpOptions({ seed: -1 }), /seed/],
    ['batch size 0', data, { ...dpOptions(), privacy: { mode: 'off', batchSize: 0 } }, /privacy\.batchSize/],
    ['batch size > rows', data, { ...dpOptions(), privacy: { mode: 'off', batchSize: 201 } }, /privacy\.batchSize/],
    ['unknown mode', data, { ...dpOptions(), privacy: { mode: 'maybe' } as unknown as TrainerOptions['privacy'] }, /privacy\.mode/],
    ['clip norm 0', data, dpOptions({}, { clipNorm: 0 }), /privacy\.clipNorm/],
    ['δ ≥ 1/N', data, dpOptions({}, { delta: 0.01 }), /privacy\.delta.*1\/rows/],
    ['q = 0', data, dpOptions({}, { samplingRate: 0 }), /privacy\.samplingRate.*\(0, 1\]/],
    ['q > 1', data, dpOptions({}, { samplingRate: 1.5 }), /privacy\.samplingRate/],
    ['class rate 0', data, dpOptions({}, { samplingRate: { positive: 0, negative: 0.1 } }), /privacy\.samplingRate\.positive/],
    ['σ and target ε', data, dpOptions({}, { targetEpsilon: 1 }), /exactly one/],
    ['neither σ nor target ε', data, dpOptions({}, { noiseMultiplier: undefined }), /exactly one/],
    ['target ε 0', data, dpOptions({}, { noiseMultiplier: undefined, targetEpsilon: 0 }), /privacy\.targetEpsilon/],
    ['unknown accountant', data, dpOptions({}, { accountant: 'gdp' as 'rdp' }), /privacy\.accountant/],
    ['NaN feature', { ...data, x: data.x.map((v, i) => (i === 7 ? Number.NaN : v)) }, dpOptions(), /data\.x\[7\] \(row 2, column 1\)/],
    ['short x', { ...data, x: data.x.subarray(1) }, dpOptions(), /data\.x\.length/],
    ['label 2', { ...data, y: data.y.map((v, i) => (i === 3 ? 2 : v)) }, dpOptions(), /data\.y\[3\].*0 or 1/],
    ['one class', { ...data, y: new Uint8Array(200) }, dpOptions(), /data\.y.*both classes/],
    ['labels of another length', { ...data, y: data.y.subarray(1) }, dpOptions(), /data\.y\.length/],
  ];
  for (const [name, badData, options, pattern] of cases) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => DpSgdTrainer.create(badData, options),
        (err: Error) => err instanceof InvalidInputError && pattern.test(err.message),
      );
    });
  }
});

describe('run and tensors', () => {
  const data = blobs(500, 4, 0.3, 1, 61);

  it('keeps the tensor count flat across steps and releases everything on dispose', async () => {
    const start = tf.memory().numTensors;
    for (const options of [dpOptions(), { ...dpOptions(), privacy: { mode: 'off', batchSize: 32 } } satisfies TrainerOptions]) {
      const trainer = DpSgdTrainer.create(data, options);
      trainer.step();
      const afterOne = tf.memory().numTensors;
      for (let s = 0; s < 15; s++) trainer.step();
      trainer.checkpoint();
      predictMlp(trainer.parameters(), data.x, data.rows);
      assert.equal(tf.memory().numTensors, afterOne);
      trainer.dispose();
      assert.equal(tf.memory().numTensors, start);
    }
  });

  it('checkpoints every k steps, stops on abort, and carries on afterwards', async () => {
    const trainer = DpSgdTrainer.create(data, dpOptions({ epochs: 1 }, { samplingRate: 0.04 }));
    const controller = new AbortController();
    const checkpoints: number[] = [];
    await assert.rejects(
      trainer.run(
        (p) => {
          if (p.step === 7) controller.abort(new Error('stop here'));
        },
        { checkpointEvery: 3, onCheckpoint: (_, p) => checkpoints.push(p.step), signal: controller.signal },
      ),
      /stop here/,
    );
    assert.deepEqual(checkpoints, [3, 6]);
    assert.equal(trainer.privacySpent()?.steps, 7);
    const steps: number[] = [];
    await trainer.run((p) => steps.push(p.step), { checkpointEvery: 10, onCheckpoint: (_, p) => checkpoints.push(p.step) });
    assert.deepEqual(
      steps,
      Array.from({ length: 18 }, (_, i) => i + 8),
    );
    assert.deepEqual(checkpoints, [3, 6, 10, 20, 25]);
    assert.ok(trainer.done);
    assert.throws(() => trainer.step(), /done/);
    trainer.dispose();
  });
});
