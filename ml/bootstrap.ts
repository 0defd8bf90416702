// Bootstrap confidence intervals for the test metrics, and the paired bootstrap of a challenger against the champion
// on the same test rows. Evaluation, not privacy: the resamples follow from a public seed so a test report repeats.
//
// The resampling unit is the card (customer id), a cluster bootstrap: each resample draws as many cards as the test
// split has, with replacement (multinomial counts), and a card drawn m times brings all its rows m times. Card
// precision@k aggregates per card (a card's maximum score and label on a day) and links the days (a card detected on
// one day leaves the later ones), so a card's rows are not independent and only whole cards can be resampled; a copy
// counts as a card of its own, in the top k and when detected. Average precision uses the same card resamples: the
// frauds of one compromised card come in runs over several days, so resampling rows would treat them as independent
// and understate the variance; and both intervals and the paired gain then come from the same resamples.
// Speed: the ranking is sorted once; a resample only reweights it (O(rows) for AP, a walk down each day's card
// ranking until k slots are filled for CP@k).

import { compareIds } from '../records/ids';
import { InvalidInputError } from './errors';
import { averagePrecision, type Labels, type Scores } from './metrics';
import { Rng } from './random';

/** A percentile bootstrap interval: `level` of the resampled values lie in [low, high] (equal tails). */
export interface Interval {
  low: number;
  high: number;
  level: number;
}

export interface MetricIntervals {
  averagePrecision: Interval;
  cardPrecisionAt100: Interval;
}

export interface BootstrapOptions {
  /** Number of resamples B (default 1000). */
  resamples?: number;
  /** Seed of the resampling (default 0): the same seed draws the same resamples, whatever the scores. */
  seed?: number;
  /** Confidence level (default 0.95). */
  level?: number;
}

export const DEFAULT_BOOTSTRAP: Required<BootstrapOptions> = { resamples: 1000, seed: 0, level: 0.95 };

/** The test rows: labels, each row's card and its test day (as ml/experiment.ts's SplitFeatures['test']). */
export interface BootstrapRows {
  y: Labels;
  customerId: readonly string[];
  day: ArrayLike<number>;
}

/** AP(challenger) − AP(champion) on the same test rows, and its distribution over paired resamples. */
export interface PairedGain {
  /** The gain on the test rows themselves. */
  averagePrecision: number;
  /** One-sided lower confidence bound at `level`: the (1 − level) quantile of the resampled gains. */
  lowerBound: number;
  level: number;
  /** Share of the resamples in which the challenger's AP is higher. */
  probabilityPositive: number;
  resamples: number;
}

const CARD_K = 100;
/** Keeps the bootstrap's random stream apart from other users of the same seed (ml/random.ts keys). */
const BOOTSTRAP_STREAM = 0xb0075;

/** Percentile intervals of test AP and CP@100 under card resampling. */
export function bootstrapIntervals(rows: BootstrapRows, scores: Scores, options: BootstrapOptions = {}): MetricIntervals {
  return bootstrapMeanIntervals(rows, [scores], options);
}

/**
 * Intervals of the mean over several score vectors of the same test rows (e.g. several training seeds): every
 * resample applies the same card counts to all of them, then averages their metrics.
 */
export function bootstrapMeanIntervals(rows: BootstrapRows, scoreSets: readonly Scores[], options: BootstrapOptions = {}): MetricIntervals {
  const o = resolve(options);
  const { ap, cp } = resampledMetrics(rows, scoreSets, o);
  const mean = (per: Float64Array[]) => Float64Array.from(per[0], (_, b) => per.reduce((sum, values) => sum + values[b], 0) / per.length);
  return { averagePrecision: percentileInterval(mean(ap), o.level), cardPrecisionAt100: percentileInterval(mean(cp), o.level) };
}

/** The paired bootstrap of AP(challenger) − AP(champion): both scored on the same rows, every resample shared. */
export function pairedBootstrap(rows: BootstrapRows, champion: Scores, challenger: Scores, options: BootstrapOptions = {}): PairedGain {
  const o = resolve(options);
  const { ap } = resampledMetrics(rows, [champion, challenger], o, false);
  const gains = finiteSorted(Float64Array.from(ap[1], (value, b) => value - ap[0][b]));
  return {
    averagePrecision: averagePrecision(rows.y, challenger) - averagePrecision(rows.y, champion),
    lowerBound: quantile(gains, 1 - o.level),
    level: o.level,
    probabilityPositive: gains.reduce((n, gain) => n + (gain > 0 ? 1 : 0), 0) / gains.length,
    resamples: gains.length,
  };
}

/**
 * AP and CP@100 when card i (numbered in order of first appearance in rows.customerId) is counted counts[i] times:
 * what one resample computes; with every count 1, ml/metrics.ts's averagePrecision and cardPrecisionAtK.
 */
export function cardWeightedMetrics(
  rows: BootstrapRows,
  scores: Scores,
  counts: Int32Array,
): { averagePrecision: number; cardPrecisionAt100: number } {
  checkRows(rows, [scores]);
  const clusters = cardClusters(rows.customerId);
  if (counts.length !== clusters.ids.length)
    throw new InvalidInputError(`counts has ${counts.length} values for ${clusters.ids.length} cards`);
  return {
    averagePrecision: weightedAveragePrecision(rankRows(rows.y, scores, clusters.card), counts),
    cardPrecisionAt100: weightedCardPrecision(rankCardsPerDay(rows, scores, clusters), counts, new Int32Array(counts.length)),
  };
}

function checkRows(rows: BootstrapRows, scoreSets: readonly Scores[]): void {
  const n = rows.y.length;
  if (rows.customerId.length !== n || rows.day.length !== n) {
    throw new InvalidInputError(
      `rows: y has ${n} values, customerId ${rows.customerId.length} and day ${rows.day.length}: they must agree`,
    );
  }
  scoreSets.forEach((scores, s) => {
    if (scores.length !== n) throw new InvalidInputError(`scores[${s}] has ${scores.length} values for ${n} rows`);
  });
  if (n === 0) throw new InvalidInputError('rows is empty: the bootstrap needs test rows');
}

function resolve(options: BootstrapOptions): Required<BootstrapOptions> {
  const o = { ...DEFAULT_BOOTSTRAP, ...options };
  if (!Number.isInteger(o.resamples) || o.resamples < 1)
    throw new InvalidInputError(`resamples = ${o.resamples}: must be a whole number >= 1`);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw new InvalidInputError(`seed = ${o.seed}: must be a whole number >= 0`);
  if (!(o.level > 0 && o.level < 1)) throw new InvalidInputError(`level = ${o.level}: must be a number in (0, 1)`);
  return o;
}

/** Per score vector, AP and (optionally) CP@100 of every resample (NaN where a resample has no fraud). */
function resampledMetrics(
  rows: BootstrapRows,
  scoreSets: readonly Scores[],
  o: Required<BootstrapOptions>,
  withCardPrecision = true,
): { ap: Float64Array[]; cp: Float64Array[] } {
  checkRows(rows, scoreSets);
  const clusters = cardClusters(rows.customerId);
  const rankings = scoreSets.map((scores) => rankRows(rows.y, scores, clusters.card));
  const dayRankings = withCardPrecision ? scoreSets.map((scores) => rankCardsPerDay(rows, scores, clusters)) : [];
  const ap = scoreSets.map(() => new Float64Array(o.resamples));
  const cp = dayRankings.map(() => new Float64Array(o.resamples));
  const counts = new Int32Array(clusters.ids.length);
  const detected = new Int32Array(clusters.ids.length);
  for (let b = 0; b < o.resamples; b++) {
    drawCardCounts(counts, new Rng([o.seed, BOOTSTRAP_STREAM, b]));
    rankings.forEach((ranking, s) => {
      ap[s][b] = weightedAveragePrecision(ranking, counts);
    });
    dayRankings.forEach((days, s) => {
      cp[s][b] = weightedCardPrecision(days, counts, detected);
    });
  }
  return { ap, cp };
}

/** Each row's card as an index 0 … cards − 1, and the ids by index. */
function cardClusters(customerId: readonly string[]): { card: Int32Array; ids: string[] } {
  const index = new Map<string, number>();
  const card = Int32Array.from(customerId, (id) => {
    let i = index.get(id);
    if (i === undefined) {
      i = index.size;
      index.set(id, i);
    }
    return i;
  });
  return { card, ids: [...index.keys()] };
}

/** Multinomial card counts: as many draws with replacement as there are cards. */
function drawCardCounts(counts: Int32Array, rng: Rng): void {
  counts.fill(0);
  for (let i = 0; i < counts.length; i++) counts[rng.uniformInt(counts.length)]++;
}

/** The rows by decreasing score, with each row's card and label and where each group of tied scores ends. */
interface RankedRows {
  card: Int32Array;
  label: Uint8Array;
  groupEnd: Uint8Array;
}

function rankRows(labels: Labels, scores: Scores, card: Int32Array): RankedRows {
  const n = labels.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new InvalidInputError(`labels[${i}] = ${labels[i]}: labels must be 0 or 1`);
    if (!Number.isFinite(scores[i])) throw new InvalidInputError(`scores[${i}] = ${scores[i]}: scores must be finite numbers`);
    order[i] = i;
  }
  order.sort((a, b) => scores[b] - scores[a]);
  const ranked = { card: new Int32Array(n), label: new Uint8Array(n), groupEnd: new Uint8Array(n) };
  for (let r = 0; r < n; r++) {
    ranked.card[r] = card[order[r]];
    ranked.label[r] = labels[order[r]];
    ranked.groupEnd[r] = r === n - 1 || scores[order[r + 1]] !== scores[order[r]] ? 1 : 0;
  }
  return ranked;
}

/** scikit-learn's average precision with each row weighted by its card's count (ml/metrics.ts when all are 1). */
function weightedAveragePrecision(ranked: RankedRows, counts: Int32Array): number {
  let tp = 0;
  let fp = 0;
  let lastTp = 0;
  let sum = 0;
  for (let r = 0; r < ranked.card.length; r++) {
    const w = counts[ranked.card[r]];
    if (ranked.label[r]) tp += w;
    else fp += w;
    if (ranked.groupEnd[r] && tp !== lastTp) {
      sum += ((tp - lastTp) * tp) / (tp + fp);
      lastTp = tp;
    }
  }
  return tp > 0 ? sum / tp : Number.NaN;
}

/** Per test day (increasing), the day's cards by decreasing maximum score (ties by id), with their maximum label. */
type DayRanking = { card: Int32Array; label: Uint8Array }[];

function rankCardsPerDay(rows: BootstrapRows, scores: Scores, clusters: { card: Int32Array; ids: string[] }): DayRanking {
  const byDay = new Map<number, Map<number, { score: number; label: number }>>();
  for (let i = 0; i < rows.y.length; i++) {
    const day = rows.day[i];
    if (!Number.isInteger(day)) throw new InvalidInputError(`day[${i}] = ${day}: the day must be a whole number`);
    const cards = byDay.get(day) ?? new Map<number, { score: number; label: number }>();
    byDay.set(day, cards);
    const c = clusters.card[i];
    const seen = cards.get(c);
    if (!seen) cards.set(c, { score: scores[i], label: rows.y[i] });
    else {
      seen.score = Math.max(seen.score, scores[i]);
      seen.label = Math.max(seen.label, rows.y[i]);
    }
  }
  return [...byDay.keys()]
    .sort((a, b) => a - b)
    .map((day) => {
      const cards = [...(byDay.get(day) ?? [])];
      cards.sort(([a, x], [b, y]) => y.score - x.score || compareIds(clusters.ids[a], clusters.ids[b]));
      return { card: Int32Array.from(cards, ([c]) => c), label: Uint8Array.from(cards, ([, card]) => card.label) };
    });
}

/** The handbook's card precision@100 (ml/metrics.ts cardPrecisionAtK when all counts are 1), a card drawn m times being m cards. */
function weightedCardPrecision(days: DayRanking, counts: Int32Array, detected: Int32Array): number {
  detected.fill(0);
  let sum = 0;
  let present = 0;
  for (const day of days) {
    let slots = CARD_K;
    let hits = 0;
    let any = false;
    for (let j = 0; j < day.card.length && slots > 0; j++) {
      const c = day.card[j];
      const copies = counts[c];
      if (copies === 0) continue;
      any = true;
      const left = copies - detected[c];
      if (left <= 0) continue;
      const taken = Math.min(left, slots);
      slots -= taken;
      if (day.label[j]) {
        hits += taken;
        detected[c] += taken;
      }
    }
    // A day with no drawn card is no day of this resample, as in cardPrecisionAtK (it averages the days it sees).
    if (any) {
      sum += hits / CARD_K;
      present++;
    }
  }
  return present ? sum / present : Number.NaN;
}

function finiteSorted(values: Float64Array): Float64Array {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) throw new InvalidInputError('no resample has a fraud: the test split has too few frauds for a bootstrap');
  return finite.sort();
}

/** The p-quantile of sorted values, linear between order statistics (NumPy's default). */
function quantile(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const below = Math.floor(h);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (h - below) * (sorted[above] - sorted[below]);
}

function percentileInterval(values: Float64Array, level: number): Interval {
  const sorted = finiteSorted(values);
  return { low: quantile(sorted, (1 - level) / 2), high: quantile(sorted, (1 + level) / 2), level };
}
