// Card-level DP-SGD (user-level, McMahan et al. 2018): per-card clipped sums against brute-force per-row gradients
// summed by card, the bound on one card's contribution, ε at the card sampling rate, the refusals, learning; and the
// experiment's public (data-independent) class weight and stratified rates under DP.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DpSgdTrainer, type MlpParameters, predictMlp, type TrainerOptions, type TrainingData } from '../../ml/dpsgd';
import { perCardSquaredNormsMaterialised } from '../../ml/dpsgd/ghost';
import { backward, disposeLayers, forward, initialParameters, layerShapes, outputDelta, uploadLayers } from '../../ml/dpsgd/mlp';
import { plannedMechanism } from '../../ml/dpsgd/plan';
import { InvalidInputError } from '../../ml/errors';
import { checkOptions, type ExperimentOptions, HANDBOOK_FRAUD_RATE, trainerOptionsFor } from '../../ml/experiment';
import { rocAuc } from '../../ml/metrics';
import { epsilon } from '../../ml/privacy';
import { Rng } from '../../ml/random';
import { selectBackend, tf } from '../../ml/tensorflow';
import { autodiffGradient } from '../mlp-autodiff';

before(async () => {
  await selectBackend('tensorflow', () => undefined);
});

const flat = (params: MlpParameters) => Float64Array.from(params.layers.flatMap(({ weights, bias }) => [...weights, ...bias]));
const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/** Rows of cards with the given row counts; card k's rows share a label (k % 3 === 0: fraud) and a feature offset. */
function cardsData(rowsPerCard: number[], cols: number, seed: number, shift = 0): TrainingData {
  const rng = new Rng([seed]);
  const rows = rowsPerCard.reduce((s, n) => s + n, 0);
  const x = new Float32Array(rows * cols);
  const y = new Uint8Array(rows);
  const groups = new Int32Array(rows);
  let r = 0;
  rowsPerCard.forEach((n, k) => {
    const label = k % 3 === 0 ? 1 : 0;
    for (let i = 0; i < n; i++, r++) {
      groups[r] = k;
      y[r] = label;
      for (let c = 0; c < cols; c++) x[r * cols + c] = rng.normal() + (c < 2 ? shift * label : 0);
    }
  });
  // A card's rows need not be contiguous: swap rows i and i + 1 every four rows.
  for (let i = 0; i + 1 < rows; i += 4) {
    const row = Float32Array.from(x.subarray(i * cols, (i + 1) * cols));
    x.copyWithin(i * cols, (i + 1) * cols, (i + 2) * cols);
    x.set(row, (i + 1) * cols);
    [y[i], y[i + 1]] = [y[i + 1], y[i]];
    [groups[i], groups[i + 1]] = [groups[i + 1], groups[i]];
  }
  return { x, y, rows, cols, groups };
}

/** Per-row gradients of w_i·(softplus(z) − y·z) by tf autodiff through ordinary dense layers, in the flat layout. */
function bruteForceRowGradients(params: Float64Array, data: TrainingData, hidden: number[], positiveWeight: number): Float64Array[] {
  const shapes = layerShapes(data.cols, hidden);
  return Array.from({ length: data.rows }, (_, i) =>
    autodiffGradient(
      params,
      shapes,
      Array.from(data.x.subarray(i * data.cols, (i + 1) * data.cols)),
      data.y[i],
      data.y[i] ? positiveWeight : 1,
    ),
  );
}

/** Σ over cards of clip_C(Σ_{i∈card} g_i), and each card's unclipped norm. */
function bruteForceCardSum(rowGradients: Float64Array[], groups: Int32Array, clipNorm: number) {
  const cards = Math.max(...groups) + 1;
  const perCard = Array.from({ length: cards }, () => new Float64Array(rowGradients[0].length));
  rowGradients.forEach((g, i) => {
    for (let j = 0; j < g.length; j++) perCard[groups[i]][j] += g[j];
  });
  const norms = perCard.map(norm);
  const sum = new Float64Array(rowGradients[0].length);
  perCard.forEach((g, k) => {
    const c = Math.min(1, clipNorm / norms[k]);
    for (let j = 0; j < g.length; j++) sum[j] += c * g[j];
  });
  return { sum, norms, perCard };
}

function cardOptions(
  privacy: Partial<Extract<TrainerOptions['privacy'], { mode: 'dp' }>>,
  overrides: Partial<TrainerOptions> = {},
): TrainerOptions {
  return {
    hidden: [5],
    epochs: 1,
    learningRate: 1,
    optimizer: 'sgd',
    positiveWeight: 2,
    seed: 3,
    insecureNoiseSeed: 5,
    ...overrides,
    privacy: { mode: 'dp', unit: 'card', clipNorm: 1, delta: 1e-3, samplingRate: 1, noiseMultiplier: 1e-9, ...privacy },
  };
}

/** One SGD step (learning rate 1) with every card sampled and negligible noise: returns −Δθ·K, the clipped card sum. */
function oneStepCardSum(data: TrainingData, options: TrainerOptions): { before: Float64Array; clippedSum: Float64Array } {
  const trainer = DpSgdTrainer.create(data, options);
  try {
    const before = flat(trainer.parameters());
    trainer.step();
    const after = flat(trainer.parameters());
    const cards = Math.max(...(data.groups as Int32Array)) + 1;
    return { before, clippedSum: before.map((v, j) => (v - after[j]) * cards) };
  } finally {
    trainer.dispose();
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length);
  const scale = Math.max(1, norm(expected));
  for (let j = 0; j < expected.length; j++) {
    assert.ok(Math.abs(actual[j] - expected[j]) <= tolerance * scale, `${what}[${j}]: ${actual[j]} vs ${expected[j]}`);
  }
}

describe('per-card clipping', () => {
  const rowsPerCard = [7, 1, 4, 60, 2, 3];
  const data = cardsData(rowsPerCard, 4, 21);

  it('per-card norms by materialised card gradients equal brute force (1e-5)', () => {
    const hidden = [6, 3];
    const shapes = layerShapes(data.cols, hidden);
    const params = initialParameters(shapes, new Rng([9]));
    const rng = new Rng([10]);
    for (let j = 0; j < params.length; j++) params[j] += rng.normal(0, 0.3);
    const { norms } = bruteForceCardSum(bruteForceRowGradients(Float64Array.from(params), data, hidden, 2), data.groups as Int32Array, 1);
    // The batch card by card, as the sampler gives it, then one padding row (zero loss weight).
    const order = Array.from({ length: data.rows }, (_, i) => i).sort(
      (a, b) => (data.groups as Int32Array)[a] - (data.groups as Int32Array)[b],
    );
    const cardOf = Int32Array.from(order, (i) => (data.groups as Int32Array)[i]);
    const layers = uploadLayers(params, shapes);
    const materialised = tf.tidy(() => {
      const rows = [...order.map((i) => [...data.x.subarray(i * data.cols, (i + 1) * data.cols), 1]), [0, 0, 0, 0, 1]];
      const labels = tf.tensor2d([...order.map((i) => data.y[i]), 0], [rows.length, 1]);
      const weights = tf.tensor2d([...order.map((i) => (data.y[i] ? 2 : 1)), 0], [rows.length, 1]);
      const pass = forward(layers, tf.tensor2d(rows));
      const deltas = backward(layers, pass, outputDelta(pass.logits, labels, weights));
      const length = Math.max(...rowsPerCard);
      const layout = new Int32Array(rowsPerCard.length * length).fill(order.length);
      const filled = new Int32Array(rowsPerCard.length);
      cardOf.forEach((k, b) => {
        layout[k * length + filled[k]++] = b;
      });
      const k = rowsPerCard.length;
      return perCardSquaredNormsMaterialised(pass.inputs, deltas, tf.tensor1d(layout, 'int32'), k, length);
    });
    assertClose(Array.from(materialised.dataSync(), Math.sqrt), norms, 1e-5, 'materialised');
    materialised.dispose();
    disposeLayers(layers);
  });

  it("the trainer's step is the sum of clipped card sums over K (brute force, 1e-4)", () => {
    const probe = DpSgdTrainer.create(data, cardOptions({}));
    const params = flat(probe.parameters());
    probe.dispose();
    const rowGradients = bruteForceRowGradients(params, data, [5], 2);
    const { norms } = bruteForceCardSum(rowGradients, data.groups as Int32Array, 1);
    const clipNorm = [...norms].sort((a, b) => a - b)[3]; // some cards clipped, some not
    const expected = bruteForceCardSum(rowGradients, data.groups as Int32Array, clipNorm);
    const { clippedSum } = oneStepCardSum(data, cardOptions({ clipNorm }));
    assertClose(clippedSum, expected.sum, 1e-4, 'clipped card sum');
  });

  it("the trainer's step with transaction clipping is the sum of clipped row gradients over N (brute force, 1e-4)", () => {
    const probe = DpSgdTrainer.create(data, cardOptions({}));
    const params = flat(probe.parameters());
    probe.dispose();
    const rowGradients = bruteForceRowGradients(params, data, [5], 2);
    const eachRowAlone = Int32Array.from({ length: data.rows }, (_, i) => i);
    const { norms } = bruteForceCardSum(rowGradients, eachRowAlone, 1);
    const clipNorm = [...norms].sort((a, b) => a - b)[Math.floor(data.rows / 2)]; // half the rows clipped
    const expected = bruteForceCardSum(rowGradients, eachRowAlone, clipNorm);
    const trainer = DpSgdTrainer.create(data, cardOptions({ unit: 'transaction', clipNorm }));
    try {
      trainer.step();
      const after = flat(trainer.parameters());
      const clippedSum = params.map((v, j) => (v - after[j]) * data.rows);
      assertClose(clippedSum, expected.sum, 1e-4, 'clipped row sum');
    } finally {
      trainer.dispose();
    }
  });

  it('a card with many rows contributes at most C', () => {
    // Card 0: 300 copies of one fraud row with large features (its summed gradient is huge); card 1: one row.
    const cols = 3;
    const rows = 301;
    const x = new Float32Array(rows * cols).fill(4);
    x.set([0.1, -0.2, 0.3], 300 * cols);
    const y = new Uint8Array(rows).fill(1);
    y[300] = 0;
    const groups = new Int32Array(rows);
    groups[300] = 1;
    const heavy: TrainingData = { x, y, rows, cols, groups };
    const clipNorm = 0.5;
    const probe = DpSgdTrainer.create(heavy, cardOptions({ clipNorm, delta: 0.1 }));
    const params = flat(probe.parameters());
    probe.dispose();
    const { norms, perCard } = bruteForceCardSum(bruteForceRowGradients(params, heavy, [5], 2), groups, clipNorm);
    assert.ok(norms[0] > 50 * clipNorm, `the heavy card's summed gradient norm ${norms[0]} is far above C`);
    const { clippedSum } = oneStepCardSum(heavy, cardOptions({ clipNorm, delta: 0.1 }));
    const lightClipped = perCard[1].map((v) => v * Math.min(1, clipNorm / norms[1]));
    const heavyContribution = clippedSum.map((v, j) => v - lightClipped[j]);
    assert.ok(norm(heavyContribution) <= clipNorm * (1 + 1e-4), `heavy card contributes ${norm(heavyContribution)} > C = ${clipNorm}`);
    assert.ok(norm(heavyContribution) >= clipNorm * (1 - 1e-4), 'and exactly C, being clipped');
  });
});

describe('card-level accounting and options', () => {
  const data = cardsData(
    Array.from({ length: 40 }, (_, k) => 1 + (k % 7)),
    3,
    22,
  );

  it('ε is the sampled Gaussian at the card rate q over T steps (epochs / q), over the cards', async () => {
    const options = cardOptions({ samplingRate: 0.25, noiseMultiplier: 1.3, delta: 1e-3 }, { epochs: 2, learningRate: 0.01 });
    const planned = plannedMechanism(options, { rows: data.rows, positives: 0, cards: 40 });
    assert.deepEqual(
      { unit: planned?.unit, units: planned?.units, samplingRate: planned?.samplingRate, steps: planned?.steps },
      { unit: 'card', units: 40, samplingRate: 0.25, steps: 8 },
    );
    const trainer = DpSgdTrainer.create(data, options);
    await trainer.run();
    const spent = trainer.privacySpent();
    trainer.dispose();
    assert.ok(spent);
    assert.equal(spent.unit, 'card');
    assert.equal(spent.units, 40);
    assert.equal(spent.samplingRate, 0.25);
    assert.equal(spent.steps, 8);
    const reference = epsilon({ samplingRate: 0.25, noiseMultiplier: 1.3, steps: 8, delta: 1e-3 }, 'rdp').epsilon;
    assert.equal(spent.epsilon, reference);
  });

  it('a target ε is reached at the card rate, and the transaction unit still accounts over rows', async () => {
    const options = cardOptions({ samplingRate: 0.2, noiseMultiplier: undefined, targetEpsilon: 2 }, { epochs: 1 });
    const trainer = DpSgdTrainer.create(data, options);
    await trainer.run();
    const spent = trainer.privacySpent();
    trainer.dispose();
    assert.ok(spent && spent.epsilon <= 2 + 1e-9 && spent.epsilon > 1.5, `ε ${spent?.epsilon}`);
    const rows = plannedMechanism(
      { ...options, privacy: { ...options.privacy, unit: 'transaction' } as TrainerOptions['privacy'] },
      {
        rows: data.rows,
        positives: 10,
      },
    );
    assert.equal(rows?.units, data.rows);
  });

  it('refuses δ >= 1/cards, missing or gapped card indices, and per-class rates with the card unit', () => {
    const throwsWith = (make: () => unknown, message: RegExp) =>
      assert.throws(make, (err: Error) => err instanceof InvalidInputError && message.test(err.message));
    throwsWith(() => DpSgdTrainer.create(data, cardOptions({ delta: 1 / 40 })), /privacy\.delta must be below 1\/cards = 0\.025/);
    throwsWith(() => DpSgdTrainer.create({ ...data, groups: undefined }, cardOptions({})), /data\.groups must be an Int32Array/);
    const gapped = Int32Array.from(data.groups as Int32Array, (g) => (g === 3 ? 4 : g));
    throwsWith(() => DpSgdTrainer.create({ ...data, groups: gapped }, cardOptions({})), /card 3 has no row/);
    throwsWith(
      () => DpSgdTrainer.create(data, cardOptions({ samplingRate: { positive: 0.5, negative: 0.1 } })),
      /privacy\.samplingRate must be one card rate with privacy\.unit card/,
    );
  });

  it('learns a small synthetic set (AUC > 0.7)', async () => {
    const rowsPerCard = Array.from({ length: 600 }, (_, k) => 1 + ((k * 7) % 13));
    const train = cardsData(rowsPerCard, 4, 23, 1.5);
    const test = cardsData(rowsPerCard.slice(0, 200), 4, 24, 1.5);
    const trainer = DpSgdTrainer.create(
      train,
      cardOptions(
        { samplingRate: 0.1, noiseMultiplier: 1, clipNorm: 1, delta: 1e-4 },
        { hidden: [8], epochs: 5, optimizer: 'adam', learningRate: 0.02, insecureNoiseSeed: undefined },
      ),
    );
    const params = await trainer.run();
    trainer.dispose();
    const auc = rocAuc(test.y, predictMlp(params, test.x, test.rows));
    assert.ok(auc > 0.7, `AUC ${auc}`);
  });
});

describe('experiment: nothing data-dependent under DP', () => {
  const base: Omit<ExperimentOptions, 'protocol'> = {
    balance: 'class-weight',
    smoteRatio: 0.1,
    smoteK: 5,
    dp: true,
    targetEpsilon: 1,
    delta: 1e-6,
    accountant: 'pld',
    clipNorm: 3,
    samplingRate: 0.1,
    batchSize: 256,
    hidden: [8],
    epochs: 2,
    learningRate: 0.02,
    optimizer: 'adam',
    transform: 'fixed',
    seed: 0,
  };

  it('the class weight and stratified rates come from public numbers, not from the class counts', () => {
    for (const balance of ['class-weight', 'stratified'] as const) {
      const a = trainerOptionsFor({ ...base, balance }, 10, 990);
      const b = trainerOptionsFor({ ...base, balance }, 300, 700);
      assert.deepEqual(a, b, balance);
    }
    assert.equal(trainerOptionsFor(base, 10, 990).positiveWeight, (1 - HANDBOOK_FRAUD_RATE) / HANDBOOK_FRAUD_RATE);
    assert.equal(trainerOptionsFor({ ...base, positiveWeight: 50 }, 10, 990).positiveWeight, 50);
    assert.equal(trainerOptionsFor({ ...base, dp: false }, 10, 990).positiveWeight, 99, 'without DP: n_neg/n_pos, as before');
    const stratified = trainerOptionsFor({ ...base, balance: 'stratified', publicFraudRate: 0.05 }, 10, 990).privacy;
    assert.deepEqual(stratified, {
      mode: 'dp',
      unit: 'transaction',
      clipNorm: 3,
      delta: 1e-6,
      targetEpsilon: 1,
      accountant: 'pld',
      samplingRate: { positive: 1, negative: (0.1 - 0.05) / 0.95 },
      expectedBatchSize: 100,
    });
    assert.equal((trainerOptionsFor({ ...base, privacyUnit: 'card' }, 10, 990).privacy as { unit: string }).unit, 'card');
  });

  it('refuses SMOTE with DP and stratified sampling with the card unit, naming the option', () => {
    const protocol = { trainStart: '2018-07-25', trainDays: 7, delayDays: 7, testDays: 7, validationDays: 7 };
    assert.throws(
      () => checkOptions({ ...base, protocol, balance: 'smote' }),
      /balance = "smote": smote cannot be combined with DP.*use class-weight or stratified/,
    );
    assert.throws(
      () => checkOptions({ ...base, protocol, balance: 'stratified', privacyUnit: 'card' }),
      /balance = "stratified": stratified cannot be combined with privacyUnit card/,
    );
    assert.doesNotThrow(() => checkOptions({ ...base, protocol, balance: 'smote', dp: false }));
  });
});
