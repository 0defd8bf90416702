import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bootstrapIntervals, bootstrapMeanIntervals, cardWeightedMetrics, pairedBootstrap } from '../../ml/bootstrap';
import { averagePrecision, cardPrecisionAtK } from '../../ml/metrics';
import { Rng } from '../../ml/random';

/** Synthetic test rows: cards with several rows over 7 days; a compromised card's rows from its day on are frauds at rate 1/2. */
function testSet(cards: number, seed: number) {
  const rng = new Rng([seed, 14]);
  const y: number[] = [];
  const customerId: string[] = [];
  const day: number[] = [];
  for (let c = 0; c < cards; c++) {
    const compromisedFrom = rng.uniform() < 0.03 ? rng.uniformInt(7) : 7;
    const rows = 2 + rng.uniformInt(15);
    for (let r = 0; r < rows; r++) {
      const d = rng.uniformInt(7);
      y.push(d >= compromisedFrom && rng.uniform() < 0.5 ? 1 : 0);
      customerId.push(String(c));
      day.push(d);
    }
  }
  day.sort((a, b) => a - b); // rows by day, as the protocol's split has them (the cards' rows interleave)
  return { rows: { y: Uint8Array.from(y), customerId, day: Uint16Array.from(day) }, rng };
}

/** Scores that separate frauds by `signal` standard deviations. */
function scoresFor(y: ArrayLike<number>, signal: number, rng: Rng): Float32Array {
  return Float32Array.from(y, (label) => rng.normal(label * signal, 1));
}

const cardRows = (rows: ReturnType<typeof testSet>['rows'], scores: ArrayLike<number>) =>
  Array.from(scores, (score, i) => ({ customerId: rows.customerId[i], day: rows.day[i], score, label: rows.y[i] }));

describe('bootstrap confidence intervals (card resampling)', () => {
  const { rows, rng } = testSet(800, 1);
  const scores = scoresFor(rows.y, 2, rng);

  it('computes the metrics of ml/metrics.ts when every card counts once', () => {
    const metrics = cardWeightedMetrics(rows, scores, new Int32Array(800).fill(1));
    assert.ok(Math.abs(metrics.averagePrecision - averagePrecision(rows.y, scores)) < 1e-12);
    assert.ok(Math.abs(metrics.cardPrecisionAt100 - cardPrecisionAtK(cardRows(rows, scores), 100).mean) < 1e-12);
  });

  it('counts a card drawn m times as m cards and a card not drawn as absent, in AP and CP@100', () => {
    const counts = new Int32Array(800);
    const copies = new Rng([2]);
    for (let c = 0; c < 800; c++) counts[c] = copies.uniformInt(3);
    // The same resample written out: each copy of a card becomes a card of its own (a new id), the rows in day order.
    const written: { customerId: string; day: number; score: number; label: number }[] = [];
    cardRows(rows, scores).forEach((row) => {
      for (let m = 0; m < counts[Number(row.customerId)]; m++) written.push({ ...row, customerId: `${row.customerId}-${m}` });
    });
    const metrics = cardWeightedMetrics(rows, scores, counts);
    const labels = written.map((row) => row.label);
    assert.ok(
      Math.abs(
        metrics.averagePrecision -
          averagePrecision(
            labels,
            written.map((row) => row.score),
          ),
      ) < 1e-12,
    );
    assert.ok(Math.abs(metrics.cardPrecisionAt100 - cardPrecisionAtK(written, 100).mean) < 1e-12);
  });

  it('covers the population AP in about the nominal share of repeated test sets', () => {
    const population = testSet(60_000, 99);
    const truth = averagePrecision(population.rows.y, scoresFor(population.rows.y, 2, population.rng));
    let covered = 0;
    const repeats = 40;
    for (let k = 0; k < repeats; k++) {
      const sample = testSet(1500, 1000 + k);
      const interval = bootstrapIntervals(sample.rows, scoresFor(sample.rows.y, 2, sample.rng), {
        resamples: 200,
        seed: k,
      }).averagePrecision;
      if (interval.low <= truth && truth <= interval.high) covered++;
    }
    // Nominal 95 %: 40 draws of Binomial(40, 0.95) fall below 33 with probability < 0.1 %.
    assert.ok(covered >= 33, `the 95 % interval covered the population AP ${truth.toFixed(3)} in ${covered} of ${repeats} test sets`);
  });

  it('gives intervals around the point estimates, repeatable under the seed and different under another', () => {
    const a = bootstrapIntervals(rows, scores, { resamples: 300, seed: 7 });
    assert.deepEqual(bootstrapIntervals(rows, scores, { resamples: 300, seed: 7 }), a);
    assert.notDeepEqual(bootstrapIntervals(rows, scores, { resamples: 300, seed: 8 }), a);
    const ap = averagePrecision(rows.y, scores);
    const cp = cardPrecisionAtK(cardRows(rows, scores), 100).mean;
    assert.ok(a.averagePrecision.low < ap && ap < a.averagePrecision.high, JSON.stringify(a));
    assert.ok(a.cardPrecisionAt100.low <= cp && cp <= a.cardPrecisionAt100.high, JSON.stringify(a));
    assert.equal(a.averagePrecision.level, 0.95);
    // The mean over one score vector is that vector's interval.
    assert.deepEqual(bootstrapMeanIntervals(rows, [scores], { resamples: 300, seed: 7 }), a);
  });

  it('refuses options it cannot honour, naming them', () => {
    assert.throws(() => bootstrapIntervals(rows, scores, { resamples: 0 }), /resamples = 0/);
    assert.throws(() => bootstrapIntervals(rows, scores, { level: 1 }), /level = 1/);
    assert.throws(() => bootstrapIntervals(rows, scores.subarray(1)), /scores\[0\] has/);
  });
});

describe('paired bootstrap of challenger vs champion', () => {
  const { rows, rng } = testSet(1500, 3);
  const champion = scoresFor(rows.y, 1.5, rng);

  it('finds a clearly better challenger better, with a positive lower bound', () => {
    const better = Float32Array.from(champion, (score, i) => score + 1.5 * rows.y[i]);
    const gain = pairedBootstrap(rows, champion, better, { resamples: 500, level: 0.95 });
    assert.ok(gain.averagePrecision > 0.1, JSON.stringify(gain));
    assert.ok(gain.lowerBound > 0, JSON.stringify(gain));
    assert.ok(gain.probabilityPositive > 0.99, JSON.stringify(gain));
  });

  it('finds no gain for the same model, nor for a model of the same quality', () => {
    const same = pairedBootstrap(rows, champion, champion, { resamples: 200 });
    assert.deepEqual([same.averagePrecision, same.lowerBound, same.probabilityPositive], [0, 0, 0]);
    const equal = pairedBootstrap(rows, champion, scoresFor(rows.y, 1.5, new Rng([4])), { resamples: 500 });
    assert.ok(equal.lowerBound < 0, JSON.stringify(equal));
  });

  it('scores 50,000 rows × 1,000 resamples in seconds', () => {
    const big = testSet(5000, 5);
    const started = performance.now();
    bootstrapIntervals(big.rows, scoresFor(big.rows.y, 2, big.rng));
    const seconds = (performance.now() - started) / 1000;
    assert.ok(big.rows.y.length > 40_000);
    assert.ok(seconds < 20, `${seconds.toFixed(1)} s`);
  });
});
