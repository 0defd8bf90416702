// The DP noise: exact Bernoulli coins, the discrete Gaussian against its exact law (moments, tails, chi-square and
// Kolmogorov–Smirnov with the normalising constant summed), the grid and its sensitivity, the worker that samples
// ahead, and the trainer's randomness: secret noise always, the seed fixing only what is public.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DpSgdTrainer, type MlpParameters, type TrainerOptions, type TrainingData } from '../../ml/dpsgd';
import { CryptoStream } from '../../ml/dpsgd/csprng';
import { DiscreteGaussian } from '../../ml/dpsgd/discrete-gaussian';
import { createNoiseSource, planNoiseGrid } from '../../ml/dpsgd/noise';
import { buildPrivacyReport } from '../../ml/privacy/report';
import { Rng } from '../../ml/random';
import { selectBackend } from '../../ml/tensorflow';

/** The exact law of N_Z(0, p/q) on [−L, L] (the mass beyond is below e^(−L²q/(2p)) ≈ 0), normalised by summation. */
function exactLaw(p: number, q: number) {
  const variance = p / q;
  const limit = Math.ceil(14 * Math.sqrt(variance)) + 2;
  const pmf = new Float64Array(2 * limit + 1);
  let total = 0;
  for (let x = -limit; x <= limit; x++) {
    pmf[x + limit] = Math.exp(-(x * x) / (2 * variance));
    total += pmf[x + limit];
  }
  let second = 0;
  let fourth = 0;
  let eighth = 0;
  for (let x = -limit; x <= limit; x++) {
    pmf[x + limit] /= total;
    const mass = pmf[x + limit];
    second += mass * x ** 2;
    fourth += mass * x ** 4;
    eighth += mass * x ** 8;
  }
  const tail = (k: number) => {
    let mass = 0;
    for (let x = -limit; x <= limit; x++) if (Math.abs(x) > k * Math.sqrt(variance)) mass += pmf[x + limit];
    return mass;
  };
  return { limit, pmf, sigma: Math.sqrt(variance), second, fourth, eighth, tail };
}

function draw(p: number, q: number, n: number, seed: number): Float64Array {
  const values = new Float64Array(n);
  new DiscreteGaussian(p, q, new CryptoStream(seed, 'test')).addTo(values);
  return values;
}

/** |observed − expected| within 5 standard errors. */
function near(observed: number, expected: number, standardError: number, what: string): void {
  assert.ok(Math.abs(observed - expected) <= 5 * standardError, `${what}: ${observed} vs ${expected} (± ${5 * standardError})`);
}

function checkMomentsAndTails(values: Float64Array, law: ReturnType<typeof exactLaw>): void {
  const n = values.length;
  let sum = 0;
  let second = 0;
  let fourth = 0;
  for (const x of values) {
    sum += x;
    second += x * x;
    fourth += x ** 4;
  }
  near(sum / n, 0, Math.sqrt(law.second / n), 'mean');
  near(second / n, law.second, Math.sqrt((law.fourth - law.second ** 2) / n), 'variance');
  near(fourth / n, law.fourth, Math.sqrt((law.eighth - law.fourth ** 2) / n), '4th moment');
  for (const k of [3, 5]) {
    const expected = law.tail(k);
    const observed = values.filter((x) => Math.abs(x) > k * law.sigma).length / n;
    near(observed, expected, Math.sqrt(expected / n) + 1 / n, `P(|X| > ${k}σ)`);
  }
}

describe('exact coins', () => {
  const n = 200_000;
  const coins = new DiscreteGaussian(4, 1, new CryptoStream(1, 'coins'));
  const frequency = (coin: () => boolean) => {
    let hits = 0;
    for (let i = 0; i < n; i++) if (coin()) hits++;
    return hits / n;
  };

  it('Bernoulli(r/n) for small, word-sized and awkward denominators', () => {
    for (const [r, d] of [
      [1, 3],
      [5, 7],
      [2 ** 31, 2 ** 32 - 1],
      [123_456_789, 4_000_000_007 - 1],
    ]) {
      near(
        frequency(() => coins.bernoulli(r, d)),
        r / d,
        Math.sqrt(((r / d) * (1 - r / d)) / n),
        `Bernoulli(${r}/${d})`,
      );
    }
    assert.equal(coins.bernoulli(0, 5), false);
    assert.equal(coins.bernoulli(5, 5), true);
  });

  it('Bernoulli(exp(−x)) for rational x below, at and above 1, with large denominators', () => {
    for (const [num, den] of [
      [1, 3],
      [1, 2],
      [7, 5],
      [3, 1],
      [10, 3],
      [2 ** 40 + 17, 2 ** 41 - 1],
    ]) {
      const p = Math.exp(-num / den);
      near(
        frequency(() => coins.bernoulliExp(num, den)),
        p,
        Math.sqrt((p * (1 - p)) / n),
        `Bernoulli(exp(−${num}/${den}))`,
      );
    }
    const p = Math.exp(-1);
    near(
      frequency(() => coins.bernoulliExpMinusOne()),
      p,
      Math.sqrt((p * (1 - p)) / n),
      'Bernoulli(exp(−1))',
    );
    assert.ok(Array.from({ length: 1000 }, () => coins.bernoulliExp(0, 7)).every(Boolean), 'exp(−0) = 1');
  });
});

describe('the discrete Gaussian', () => {
  const n = 100_000;

  for (const [label, p, q] of [
    ['1.5', 9, 4],
    ['3', 9, 1],
    ['10', 100, 1],
  ] as const) {
    it(`σ = ${label}: moments, tails beyond 3σ and 5σ, and chi-square against the exact law`, () => {
      const law = exactLaw(p, q);
      const values = draw(p, q, n, p);
      for (const x of values) assert.ok(Number.isInteger(x), `${x} is an integer`);
      checkMomentsAndTails(values, law);
      // Chi-square over the integers with an expected count ≥ 5; the tails merged into one bin each side.
      const counts = new Map<number, number>();
      for (const x of values) counts.set(x, (counts.get(x) ?? 0) + 1);
      let edge = 0;
      while (law.pmf[law.limit + edge + 1] * n >= 5) edge++;
      let statistic = 0;
      let bins = 0;
      const addBin = (observed: number, expected: number) => {
        statistic += (observed - expected) ** 2 / expected;
        bins++;
      };
      for (let x = -edge; x <= edge; x++) addBin(counts.get(x) ?? 0, law.pmf[law.limit + x] * n);
      let tailMass = 0;
      for (let x = edge + 1; x <= law.limit; x++) tailMass += law.pmf[law.limit + x];
      if (tailMass * n >= 5) {
        for (const sign of [-1, 1]) addBin(values.filter((x) => sign * x > edge).length, tailMass * n);
      }
      const df = bins - 1;
      assert.ok(statistic < df + 5 * Math.sqrt(2 * df), `χ² = ${statistic.toFixed(1)} on ${df} degrees of freedom`);
    });
  }

  it('at the grid σ of training: moments, tails and Kolmogorov–Smirnov against the exact law', () => {
    const { sigma } = planNoiseGrid(1.1, 1, 3137); // the default MLP's parameter count
    assert.ok(sigma >= 2 ** 12 && Number.isInteger(sigma));
    const law = exactLaw(sigma * sigma, 1);
    const values = draw(sigma * sigma, 1, n, 11);
    checkMomentsAndTails(values, law);
    const sorted = Float64Array.from(values).sort();
    let cdf = 0;
    let x = -law.limit;
    let distance = 0;
    for (let i = 0; i < n; i++) {
      for (; x <= sorted[i]; x++) cdf += law.pmf[x + law.limit]; // P(X ≤ sorted[i])
      const below = cdf - law.pmf[sorted[i] + law.limit]; // P(X < sorted[i])
      distance = Math.max(distance, Math.abs((i + 1) / n - cdf), Math.abs(i / n - below));
    }
    assert.ok(distance < 1.95 / Math.sqrt(n), `KS distance ${distance.toFixed(5)} (p < 0.001 at ${(1.95 / Math.sqrt(n)).toFixed(5)})`);
  });

  it('a worker thread draws exactly the inline stream, vector by vector, with the same positions', () => {
    const dimension = 257;
    const vectors = (draws: number) => {
      const source = createNoiseSource(5000, dimension, { seed: 9, position: 64 }, draws);
      const out: number[][] = [];
      const positions: number[] = [];
      for (let v = 0; v < 5; v++) {
        const values = new Float64Array(dimension);
        source.addTo(values);
        out.push(Array.from(values));
        positions.push(source.position);
      }
      source.dispose();
      return { out, positions };
    };
    assert.deepEqual(vectors(2 ** 30), vectors(0));
  });
});

describe('the grid', () => {
  it('makes σ the noise multiplier relative to the adjusted sensitivity C + γ√d, never less', () => {
    for (const [sigma, clipNorm, dimension] of [
      [1.1, 1, 3137],
      [0.6, 0.5, 50],
      [8, 2, 40_000],
    ]) {
      const grid = planNoiseGrid(sigma, clipNorm, dimension);
      const sensitivity = clipNorm + grid.step * Math.sqrt(dimension);
      const effective = (grid.sigma * grid.step) / sensitivity;
      assert.ok(effective >= sigma && effective < sigma * (1 + 1e-9), `effective multiplier ${effective} for σ = ${sigma}`);
      assert.ok(grid.sigma >= 2 ** 12 && Number.isInteger(grid.sigma));
      assert.ok(Math.abs(grid.inflation - sensitivity / clipNorm) < 1e-12);
      assert.ok(grid.inflation < 1.001, `inflation ${grid.inflation}`);
    }
  });
});

describe("the trainer's randomness", () => {
  before(async () => {
    await selectBackend('tensorflow', () => undefined);
  });
  const rng = new Rng([5]);
  const rows = 300;
  const data: TrainingData = {
    x: Float32Array.from({ length: rows * 3 }, () => rng.normal()),
    y: Uint8Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? 1 : 0)),
    rows,
    cols: 3,
  };
  const options = (privacy: TrainerOptions['privacy'], extra: Partial<TrainerOptions> = {}): TrainerOptions => ({
    hidden: [4],
    epochs: 1,
    learningRate: 0.05,
    optimizer: 'adam',
    seed: 7,
    privacy,
    ...extra,
  });
  const dp = { mode: 'dp', clipNorm: 1, delta: 1e-3, samplingRate: 0.1, noiseMultiplier: 1 } as const;
  const flat = (params: MlpParameters) => params.layers.flatMap(({ weights, bias }) => [...weights, ...bias]);
  const train = async (trainerOptions: TrainerOptions) => {
    const trainer = DpSgdTrainer.create(data, trainerOptions);
    const initial = flat(trainer.parameters());
    const params = flat(await trainer.run());
    const spent = trainer.privacySpent();
    trainer.dispose();
    return { initial, params, spent };
  };

  it('the same seed gives the same initialisation but different DP models; the noise is secret', async () => {
    const a = await train(options(dp));
    const b = await train(options(dp));
    assert.deepEqual(a.initial, b.initial);
    assert.notDeepEqual(a.params, b.params);
    assert.equal(a.spent?.noise.method, 'discrete-gaussian');
    assert.equal(a.spent?.noise.secret, true);
    assert.match(a.spent?.noise.citation ?? '', /Canonne, G\. Kamath, T\. Steinke/);
    assert.ok(a.spent && buildPrivacyReport({ spent: a.spent, records: rows, preprocessing: [] }).covered);
  });

  it('the same seed gives the same non-private model', async () => {
    const a = await train(options({ mode: 'off', batchSize: 30 }));
    const b = await train(options({ mode: 'off', batchSize: 30 }));
    assert.deepEqual(a.params, b.params);
  });

  it('insecureNoiseSeed repeats a DP run, and its report is NOT covered', async () => {
    const a = await train(options(dp, { insecureNoiseSeed: 3 }));
    const b = await train(options(dp, { insecureNoiseSeed: 3 }));
    assert.deepEqual(a.params, b.params);
    assert.ok(a.spent);
    assert.deepEqual([a.spent.noise.method, a.spent.noise.secret], ['seeded-test-only', false]);
    const report = buildPrivacyReport({ spent: a.spent, records: rows, preprocessing: [] });
    assert.equal(report.covered, false);
    assert.ok(report.reasons.some((reason) => /noise is not secret/.test(reason)));
  });
});
