// The model families and the DP training tricks that cost no privacy: logistic regression (no hidden layer) through
// the bundle and the serving forward pass, iterate averaging (EMA) by hand and across a resume, automatic clipping
// against brute-force gradients, DP-AdamBC's noise-variance correction, and what the privacy report says of them.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeModel, encodeModel } from '../../activities/model-file';
import { trainerOptionsOf } from '../../activities/train';
import { loadConfig } from '../../config';
import { loadBundle, packBundle } from '../../ml/bundle';
import { DpSgdTrainer, type MlpParameters, predictMlp, type TrainerOptions, type TrainingData } from '../../ml/dpsgd';
import { emaDecayAt } from '../../ml/dpsgd/averaging';
import {
  cardRowFactors,
  flatGradient,
  gradientBlocks,
  normalisingFactor,
  perCardSquaredNormsMaterialised,
  rowClipFactors,
} from '../../ml/dpsgd/ghost';
import { backward, forward, initialParameters, layerShapes, outputDelta, uploadLayers } from '../../ml/dpsgd/mlp';
import { applyUpdate, correctedSecondMoment, initialOptimizerState } from '../../ml/dpsgd/optimizer';
import { InvalidInputError } from '../../ml/errors';
import { balanceTraining, checkOptions, type ExperimentOptions, trainerOptionsFor } from '../../ml/experiment';
import { HANDBOOK_FEATURE_SET } from '../../ml/feature-set';
import { FEATURE_COUNT } from '../../ml/features';
import { rocAuc } from '../../ml/metrics';
import { buildPrivacyReport, renderPrivacyReport } from '../../ml/privacy';
import { HANDBOOK_PROTOCOL } from '../../ml/protocol';
import { Rng } from '../../ml/random';
import { selectBackend, tf } from '../../ml/tensorflow';
import { applyTransform, fixedTransform, transformStep, transformWidth } from '../../ml/transforms';
import { mlpScorer } from '../../serving/forward';
import { pipelineSettings } from '../../temporal/pipeline';
import { testFeatureRows, testPrivacySpent } from '../api-model';
import { autodiffGradient } from '../mlp-autodiff';

function blobs(rows: number, cols: number, seed: number): TrainingData {
  const rng = new Rng([seed]);
  const x = new Float32Array(rows * cols);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    y[r] = r % 3 === 0 ? 1 : 0;
    for (let c = 0; c < cols; c++) x[r * cols + c] = rng.normal() + (c < 2 ? 1.5 * y[r] : 0);
  }
  return { x, y, rows, cols };
}

function options(overrides: Partial<TrainerOptions> = {}, privacy: Partial<Extract<TrainerOptions['privacy'], { mode: 'dp' }>> = {}) {
  return {
    hidden: [6],
    epochs: 1,
    learningRate: 0.05,
    optimizer: 'adam',
    seed: 5,
    ...overrides,
    privacy: { mode: 'dp', clipNorm: 1, delta: 1e-4, samplingRate: 0.1, noiseMultiplier: 1, ...privacy },
  } satisfies TrainerOptions;
}

const flat = (params: MlpParameters) => Float64Array.from(params.layers.flatMap(({ weights, bias }) => [...weights, ...bias]));
const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let j = 0; j < actual.length; j++) {
    assert.ok(Math.abs(actual[j] - expected[j]) <= tolerance, `${what}[${j}]: ${actual[j]} vs ${expected[j]}`);
  }
}

before(async () => {
  await selectBackend('tensorflow', () => undefined);
});

describe('logistic family', () => {
  const base: Omit<ExperimentOptions, 'protocol'> = {
    family: 'logistic',
    balance: 'class-weight',
    smoteRatio: 0.1,
    smoteK: 5,
    dp: true,
    targetEpsilon: 1,
    delta: 1e-6,
    accountant: 'rdp',
    clipNorm: 1,
    samplingRate: 0.1,
    batchSize: 64,
    hidden: [64, 32],
    epochs: 1,
    learningRate: 0.1,
    optimizer: 'sgd',
    transform: 'fixed',
    seed: 0,
  };

  it('trains DP-SGD with no hidden layer (hidden ignored) and the tricks passed through', () => {
    const o = trainerOptionsFor({ ...base, averaging: 'ema', emaDecay: 0.9, clipping: 'automatic' }, 10, 990);
    assert.deepEqual(o.hidden, []);
    assert.equal(o.averaging, 'ema');
    assert.equal(o.emaDecay, 0.9);
    assert.equal((o.privacy as { clipping?: string }).clipping, 'automatic');
    assert.deepEqual(trainerOptionsFor({ ...base, family: 'quadratic' }, 10, 990).hidden, []);
    assert.throws(
      () => trainerOptionsFor({ ...base, family: 'ebm' }, 10, 990),
      /family = "ebm": the DP-SGD trainer trains the logistic, quadratic, mlp/,
    );
    assert.deepEqual(trainerOptionsFor({ ...base, family: 'mlp' }, 10, 990).hidden, [64, 32]);
    assert.deepEqual(trainerOptionsFor({ ...base, family: undefined }, 10, 990).hidden, [64, 32], 'mlp by default');
    assert.equal(trainerOptionsFor({ ...base, emaDecay: 0.9 }, 10, 990).emaDecay, undefined, 'emaDecay only with averaging ema');
  });

  it('quadratic: the training examples are the inputs and their pairwise products, said in the privacy report', () => {
    const rows = 50;
    const train = { rows, x: testFeatureRows(rows, 5), y: Uint8Array.from({ length: rows }, (_, i) => (i % 10 === 0 ? 1 : 0)) };
    const balanced = balanceTraining(
      { ...train, card: Int32Array.from({ length: rows }, (_, i) => i % 7), cards: 7 },
      { ...base, family: 'quadratic' },
    );
    const width = FEATURE_COUNT + (FEATURE_COUNT * (FEATURE_COUNT + 1)) / 2;
    assert.equal(transformWidth(balanced.transform), width);
    assert.equal(balanced.x.length, rows * width);
    assert.match(balanced.preprocessing[0].description, /pairwise products/);
    assert.equal(balanced.preprocessing[0].treatment, 'data-independent');
    const linear = balanceTraining({ ...train, card: new Int32Array(rows), cards: 1 }, base);
    assert.equal(linear.x.length, rows * FEATURE_COUNT);
  });

  it('the pipeline trains the configured family and tricks (pipeline.training)', () => {
    const config = loadConfig();
    Object.assign(config.pipeline.training, {
      family: 'logistic',
      averaging: 'ema',
      emaDecay: 0.95,
      clipping: 'automatic',
      optimizer: 'adam-bc',
    });
    const settings = pipelineSettings(config).training;
    const trainer = trainerOptionsOf(settings, { positives: 10, examples: 1000 });
    assert.deepEqual(trainer.hidden, []);
    assert.deepEqual([trainer.optimizer, trainer.averaging, trainer.emaDecay], ['adam-bc', 'ema', 0.95]);
    assert.equal((trainer.privacy as { clipping?: string }).clipping, 'automatic');
    const defaults = trainerOptionsOf(pipelineSettings(loadConfig()).training, { positives: 10, examples: 1000 });
    assert.equal(defaults.averaging, undefined, 'config.yaml keeps today’s behaviour');
    assert.equal((defaults.privacy as { clipping?: string }).clipping, undefined);
  });

  it('rejects an unknown family or trick, naming the field and the rule', () => {
    const protocol = HANDBOOK_PROTOCOL;
    for (const [field, bad] of [
      ['family', { family: 'forest' }],
      ['optimizer', { optimizer: 'rmsprop' }],
      ['averaging', { averaging: 'polyak' }],
      ['clipping', { clipping: 'soft' }],
      ['emaDecay', { averaging: 'ema', emaDecay: 1 }],
      ['balance', { family: 'quadratic', dp: false, balance: 'smote' }],
    ] as const) {
      assert.throws(
        () => checkOptions({ ...base, protocol, ...(bad as object) } as ExperimentOptions),
        (err: Error) => err instanceof InvalidInputError && err.message.startsWith(`${field} = `) && /must be/.test(err.message),
        field,
      );
    }
  });

  it('learns, and scores the same through predictMlp, the model file, the bundle and the serving forward pass', async () => {
    const set = HANDBOOK_FEATURE_SET;
    const data = blobs(600, set.names.length, 3);
    const trainer = DpSgdTrainer.create(data, { ...options({ hidden: [], epochs: 3 }), privacy: { mode: 'off', batchSize: 60 } });
    assert.ok(
      flat(trainer.parameters()).every((v) => v === 0),
      'logistic regression starts at zero',
    );
    const params = await trainer.run();
    trainer.dispose();
    assert.equal(params.layers.length, 1);
    assert.equal(params.layers[0].weights.length, set.names.length);
    assert.ok(rocAuc(data.y, predictMlp(params, data.x, data.rows)) > 0.85);
    assert.deepEqual(decodeModel(encodeModel(params)), params, 'the model file keeps a model without hidden layers');

    const transform = fixedTransform(set);
    const loaded = await loadBundle(
      await packBundle({
        model: params,
        transform,
        features: set,
        labelDelayDays: 7,
        threshold: 0.5,
        metrics: {},
        privacy: buildPrivacyReport({ spent: null, records: data.rows, preprocessing: [transformStep(transform)] }),
        createdAt: '2026-01-01T00:00:00.000Z',
      }),
    );
    try {
      const rows = 300;
      const raw = testFeatureRows(rows, 9);
      const expected = predictMlp(params, applyTransform(transform, raw, rows), rows);
      const js = mlpScorer(loaded);
      assert.ok(js, 'a logistic model is compiled to the plain-JS forward pass');
      assertClose(js(raw, rows), expected, 1e-6, 'serving forward');
      assertClose(loaded.predict(raw, rows), expected, 1e-6, 'bundle predict');
    } finally {
      loaded.dispose();
    }
  });
});

describe('iterate averaging (EMA)', () => {
  const data = blobs(200, 4, 7);

  it('equals the hand-computed warmed-up average of the iterates on a 2-step run', () => {
    const o = options({ insecureNoiseSeed: 11, hidden: [3] }, { samplingRate: 0.5 });
    const plain = DpSgdTrainer.create(data, o);
    const averaged = DpSgdTrainer.create(data, { ...o, averaging: 'ema', emaDecay: 0.9 });
    assert.equal(plain.totalSteps, 2);
    const iterates = [flat(plain.parameters())];
    assert.deepEqual(flat(averaged.parameters()), iterates[0], 'before any step the average is the initialisation');
    for (let s = 0; s < 2; s++) {
      plain.step();
      averaged.step();
      iterates.push(flat(plain.parameters()));
    }
    const [d1, d2] = [emaDecayAt(0.9, 1), emaDecayAt(0.9, 2)];
    assert.equal(d1, 2 / 11);
    assert.equal(d2, 3 / 12);
    const expected = iterates[0].map((t0, j) => d2 * (d1 * t0 + (1 - d1) * iterates[1][j]) + (1 - d2) * iterates[2][j]);
    assertClose(flat(averaged.parameters()), expected, 1e-6, 'EMA');
    assert.notDeepEqual(flat(averaged.parameters()), iterates[2], 'the average is not the last iterate');
    assert.deepEqual(averaged.privacySpent()?.averaging, { mode: 'ema', decay: 0.9 });
    assert.deepEqual(plain.privacySpent()?.averaging, { mode: 'none' });
    assert.deepEqual(averaged.privacySpent()?.epsilon, plain.privacySpent()?.epsilon, 'averaging costs no privacy');
    plain.dispose();
    averaged.dispose();
  });

  it('survives checkpoint / resume: a resumed run ends with the uninterrupted run’s average (with adam-bc and automatic clipping)', async () => {
    const o: TrainerOptions = {
      ...options({ insecureNoiseSeed: 12, epochs: 2, optimizer: 'adam-bc', averaging: 'ema' }, { clipping: 'automatic' }),
    };
    const whole = DpSgdTrainer.create(data, o);
    const uninterrupted = await whole.run();
    whole.dispose();
    const first = DpSgdTrainer.create(data, o);
    for (let s = 0; s < 7; s++) first.step();
    const bytes = first.checkpoint();
    first.dispose();
    const second = DpSgdTrainer.resume(bytes, data);
    const resumed = await second.run();
    second.dispose();
    assert.deepEqual(flat(resumed), flat(uninterrupted));
  });
});

describe('automatic clipping', () => {
  const inputs = 4;
  const hidden = [5];
  const batch = 10;
  const clipNorm = 0.7;
  const stability = 0.01;
  const rng = new Rng([23]);
  const shapes = layerShapes(inputs, hidden);
  const params = initialParameters(shapes, rng);
  for (let j = 0; j < params.length; j++) params[j] += rng.normal(0, 0.3);
  const x = Array.from({ length: batch }, () => Array.from({ length: inputs }, () => rng.normal()));
  const y = Array.from({ length: batch }, (_, i) => (i % 2 ? 1 : 0));
  const perExample = x.map((row, i) => autodiffGradient(params, shapes, row, y[i], 1));

  /** Per layer: inputs ã_l and errors Δ_l of the batch (plus `padding` zero-weight rows), by the trainer's manual pass. */
  function pass(padding = 0) {
    const layers = uploadLayers(params, shapes);
    const rows = [...x, ...Array.from({ length: padding }, () => new Array(inputs).fill(0))];
    const augmented = tf.tensor2d(rows.map((r) => [...r, 1]));
    const p = forward(layers, augmented);
    const labels = tf.tensor2d([...y, ...new Array(padding).fill(0)], [batch + padding, 1]);
    const weights = tf.tensor2d([...new Array(batch).fill(1), ...new Array(padding).fill(0)], [batch + padding, 1]);
    return { inputs: p.inputs, deltas: backward(layers, p, outputDelta(p.logits, labels, weights)) };
  }

  /** Σ_i c_i·g_i in the flat layout (the trainer's path), the factors c computed from the batch's pass. */
  function clippedSum(factorsOf: (p: ReturnType<typeof pass>) => Float32Array, padding = 0): Float64Array {
    const blocks = tf.tidy(() => {
      const p = pass(padding);
      return gradientBlocks(p.inputs, p.deltas, tf.tensor2d(factorsOf(p), [batch + padding, 1]));
    });
    const sum = flatGradient(blocks, shapes, params.length);
    tf.dispose(blocks);
    return sum;
  }

  const bounded = (g: Float64Array) => g.map((v) => (clipNorm * v) / (norm(g) + stability));

  it('per example: Σ C·g/(‖g‖ + γ) equals brute force, and each contribution has norm below C', () => {
    const inputNorms = x.map((row) => row.reduce((sum, v) => sum + v * v, 1));
    const sum = clippedSum(({ inputs: a, deltas }) => rowClipFactors(a, deltas, inputNorms, normalisingFactor(clipNorm, stability)));
    const expected = new Float64Array(params.length);
    for (const g of perExample) {
      const contribution = bounded(g);
      assert.ok(norm(contribution) < clipNorm, `‖contribution‖ = ${norm(contribution)}`);
      contribution.forEach((v, j) => {
        expected[j] += v;
      });
    }
    assertClose(sum, expected, 1e-5, 'automatically clipped sum');
  });

  it('per card: each card’s summed gradient G becomes C·G/(‖G‖ + γ), norm below C', () => {
    const cardOf = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3];
    const cards = 4;
    const length = 4;
    const layout = new Int32Array(cards * length).fill(batch); // row `batch`: a zero-weight padding row
    const filled = new Array(cards).fill(0);
    cardOf.forEach((k, b) => {
      layout[k * length + filled[k]++] = b;
    });
    const sum = clippedSum(({ inputs: a, deltas }) => {
      const norms = perCardSquaredNormsMaterialised(a, deltas, tf.tensor1d(layout, 'int32'), cards, length).dataSync();
      return cardRowFactors(norms, cardOf, batch + 1, normalisingFactor(clipNorm, stability));
    }, 1);
    const expected = new Float64Array(params.length);
    for (let k = 0; k < cards; k++) {
      const card = new Float64Array(params.length);
      cardOf.forEach((c, i) => {
        if (c !== k) return;
        perExample[i].forEach((v, j) => {
          card[j] += v;
        });
      });
      const contribution = bounded(card);
      assert.ok(norm(contribution) < clipNorm, `card ${k}: ‖contribution‖ = ${norm(contribution)}`);
      contribution.forEach((v, j) => {
        expected[j] += v;
      });
    }
    assertClose(sum, expected, 1e-5, 'automatically clipped card sum');
  });

  it('changes only the clipping: the same σ, grid and ε as flat clipping, and the trainer runs it for either unit', () => {
    const data = { ...blobs(200, 4, 9), groups: Int32Array.from({ length: 200 }, (_, r) => r % 50) };
    const spent = (privacy: Partial<Extract<TrainerOptions['privacy'], { mode: 'dp' }>>) => {
      const trainer = DpSgdTrainer.create(data, options({}, privacy));
      trainer.step();
      const out = trainer.privacySpent();
      trainer.dispose();
      return out;
    };
    const flatSpent = spent({});
    const automatic = spent({ clipping: 'automatic' });
    assert.deepEqual(automatic?.clipping, { mode: 'automatic', stability: 0.01 });
    assert.deepEqual(flatSpent?.clipping, { mode: 'flat' });
    assert.equal(automatic?.noiseMultiplier, flatSpent?.noiseMultiplier);
    assert.equal(automatic?.noise.grid, flatSpent?.noise.grid);
    assert.equal(automatic?.epsilon, flatSpent?.epsilon);
    assert.deepEqual(spent({ unit: 'card', clipping: 'automatic', clippingStability: 0.1 })?.clipping, {
      mode: 'automatic',
      stability: 0.1,
    });
    assert.throws(
      () => spent({ clippingStability: 0.1 }),
      /privacy\.clippingStability must be unset unless privacy\.clipping is 'automatic'/,
    );
  });
});

describe('DP-AdamBC', () => {
  it('subtracts a known noise variance from the second moment, floored at γ′', () => {
    // Noisy gradients g + N(0, Φ): Adam's second moment tends to g² + Φ, adam-bc's corrected one to g².
    const size = 400;
    const phi = 0.04;
    const rng = new Rng([31]);
    const truth = Float64Array.from({ length: size }, (_, j) => (j % 2 ? 0.3 : -0.5));
    const state = initialOptimizerState('adam-bc', size, 0);
    const params = new Float32Array(size);
    const settings = { kind: 'adam-bc' as const, learningRate: 1e-6, momentum: 0, noiseVariance: phi, floor: 1e-8 };
    const steps = 4000;
    for (let t = 0; t < steps; t++) {
      applyUpdate(
        settings,
        state,
        params,
        Float64Array.from(truth, (g) => g + rng.normal(0, Math.sqrt(phi))),
      );
    }
    const correction = 1 - 0.999 ** steps;
    const mean = (f: (v: number, j: number) => number) => Array.from(state.second, f).reduce((s, v) => s + v, 0) / size;
    const raw = mean((v, j) => v / correction - truth[j] ** 2);
    const corrected = mean((v, j) => correctedSecondMoment(v / correction, phi, 1e-8) - truth[j] ** 2);
    assert.ok(Math.abs(raw - phi) < 0.004, `Adam's v̂ − g² = ${raw}, the noise variance ${phi}`);
    assert.ok(Math.abs(corrected) < 0.004, `adam-bc's corrected v̂ − g² = ${corrected}`);
    assert.equal(correctedSecondMoment(0.01, phi, 1e-8), 1e-8, 'below the noise variance: the floor');
  });

  it('in the trainer, removes exactly (σ·C·inflation/B)² on the first step', () => {
    // q = 1: every row in every step. The same noise seed gives all three the same noisy gradient g̃; plain SGD at
    // rate 1 reveals it, and adam-bc's first step is lr·g̃/(√max(g̃² − Φ, γ′) + 1e-8).
    const data = blobs(300, 3, 13);
    const first = (optimizer: 'sgd' | 'adam-bc', learningRate: number) => {
      const trainer = DpSgdTrainer.create(
        data,
        options({ optimizer, learningRate, insecureNoiseSeed: 17, hidden: [4] }, { samplingRate: 1, noiseMultiplier: 0.5, clipNorm: 0.05 }),
      );
      const before = flat(trainer.parameters());
      trainer.step();
      const step = flat(trainer.parameters()).map((p, j) => before[j] - p);
      const spent = trainer.privacySpent();
      trainer.dispose();
      return { step, spent };
    };
    const sgd = first('sgd', 1);
    const lr = 1e-3;
    const bc = first('adam-bc', lr);
    const spent = sgd.spent;
    assert.ok(spent?.noise.inflation);
    const phi = ((spent.noiseMultiplier * spent.clipNorm * spent.noise.inflation) / data.rows) ** 2;
    let checked = 0;
    sgd.step.forEach((g, j) => {
      if (g * g < 2 * phi) return;
      const predicted = (lr * g) / (Math.sqrt(Math.max(g * g - phi, 1e-8)) + 1e-8);
      assert.ok(Math.abs(bc.step[j] - predicted) < 2e-3 * Math.abs(predicted), `coordinate ${j}: ${bc.step[j]} vs ${predicted}`);
      checked++;
    });
    assert.ok(checked >= 3, `${checked} coordinates checked`);
  });
});

describe('privacy report', () => {
  it('states the clipping mode and the averaging, one line each', () => {
    const report = buildPrivacyReport({
      spent: testPrivacySpent({ clipping: { mode: 'automatic', stability: 0.01 }, averaging: { mode: 'ema', decay: 0.99 } }),
      records: 100_000,
      preprocessing: [],
    });
    assert.match(report.clipping ?? '', /^Clipping: automatic \(Bu et al\. 2023, normalised\).*C = 1, γ = 0\.01.*sensitivity C/);
    assert.match(report.averaging ?? '', /^Averaging: EMA of the DP-SGD iterates \(decay 0\.99.*no privacy cost/);
    const text = renderPrivacyReport(report);
    assert.ok(text.includes(`\n${report.clipping}\n`) && text.includes(`\n${report.averaging}\n`));
    const legacy = buildPrivacyReport({ spent: testPrivacySpent(), records: 100_000, preprocessing: [] });
    assert.match(legacy.clipping ?? '', /^Clipping: flat/);
    assert.match(legacy.averaging ?? '', /^Averaging: none/);
    assert.equal(buildPrivacyReport({ spent: null, records: 10, preprocessing: [] }).clipping, null);
  });
});
