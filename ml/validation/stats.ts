// Statistics of one numeric column. Everything is read off the sorted values: quantiles by index, and any bin
// count by binary search (O(bins · log n)), so the only step over every value is the sort itself: a counting sort
// for small whole numbers, else a radix sort of the values' bits (about half the native sort's time on a million).

/** Quantiles shown in reports (linear interpolation between order statistics, numpy's default). */
export const QUANTILES = { p01: 0.01, p05: 0.05, p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95, p99: 0.99 } as const;
export type QuantileName = keyof typeof QUANTILES;

/** Drift bins: cut at the deciles, so each holds ~10 % of the data (PSI's usual thresholds assume deciles). */
export const DRIFT_BINS = 10;
/** The empirical CDF is kept at every percentile (101 points) for the Kolmogorov–Smirnov distance. */
export const CDF_POINTS = 101;
/** Display histograms of continuous columns: equal-width bins between the 0.1 % and 99.9 % quantiles. */
export const HISTOGRAM_BINS = 40;
/** Integer columns spanning at most this many values get one display bin per value. */
const MAX_UNIT_BINS = 60;
/** Integer columns with a range up to this size are sorted by counting (most features are small counts or 0/1). */
const COUNTING_SORT_RANGE = 1 << 20;

/** Right-closed bins: bin 0 is (-∞, cuts[0]], bin i is (cuts[i-1], cuts[i]], the last is (cuts[k-1], +∞). */
export interface DriftBins {
  cuts: number[];
  counts: number[];
}

/** Display bins [edges[i], edges[i+1]); values below edges[0] or above the last edge are counted in the end bins. */
export interface Histogram {
  edges: number[];
  counts: number[];
}

/** The empirical CDF at points x: p[i] = share of values <= x[i], below[i] = share of values < x[i]. */
export interface Cdf {
  x: number[];
  p: number[];
  below: number[];
}

export interface Summary {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator; 0 for a single value). */
  std: number;
  min: number;
  max: number;
  /** Every value is a whole number (counts, flags). */
  integer: boolean;
  quantiles: Record<QuantileName, number>;
  histogram: Histogram;
  bins: DriftBins;
  cdf: Cdf;
}

export interface ColumnStatistics {
  /** Values present (finite numbers). */
  count: number;
  /** Values absent or not a finite number. */
  missing: number;
  /** Absent when count is 0. */
  summary?: Summary;
}

/** Below this many values the native sort is as fast as a radix sort's passes. */
const RADIX_SORT_MIN = 4096;
/** Bits per radix digit: 4 passes over a double's 64 bits, 65536 buckets each. */
const DIGIT_BITS = 16;
const DIGITS = 64 / DIGIT_BITS;
const BUCKETS = 1 << DIGIT_BITS;

/**
 * Sorts finite values ascending in place by their IEEE-754 bits, in the order Float64Array.prototype.sort gives (−0
 * before +0, equal values alike to the bit): least significant digit first, over keys that order as the numbers do
 * (a non-negative value's bits with the sign bit set, a negative value's bits inverted). A digit all values share is
 * skipped. `scratch` (at least n values, apart from `values`) is used instead of new storage.
 */
function radixSort(values: Float64Array, scratch?: Float64Array): Float64Array {
  const n = values.length;
  let from: Uint32Array = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  const own = from;
  let to: Uint32Array =
    scratch && scratch.length >= n ? new Uint32Array(scratch.buffer, scratch.byteOffset, 2 * n) : new Uint32Array(2 * n);
  // Keys in place of the bits (words: low, high; little-endian, as on every platform Node runs on).
  for (let i = 0; i < 2 * n; i += 2) {
    if (from[i + 1] & 0x80000000) {
      from[i] = ~from[i];
      from[i + 1] = ~from[i + 1];
    } else from[i + 1] |= 0x80000000;
  }
  const counts = new Int32Array(DIGITS * BUCKETS);
  for (let i = 0; i < 2 * n; i += 2) {
    counts[from[i] & 0xffff]++;
    counts[BUCKETS + (from[i] >>> 16)]++;
    counts[2 * BUCKETS + (from[i + 1] & 0xffff)]++;
    counts[3 * BUCKETS + (from[i + 1] >>> 16)]++;
  }
  for (let digit = 0; digit < DIGITS; digit++) {
    const base = digit * BUCKETS;
    if (counts.subarray(base, base + BUCKETS).includes(n)) continue;
    for (let b = 0, at = 0; b < BUCKETS; b++) {
      const count = counts[base + b];
      counts[base + b] = at;
      at += count;
    }
    const word = digit >> 1;
    const shift = (digit & 1) * DIGIT_BITS;
    for (let i = 0; i < 2 * n; i += 2) {
      const at = 2 * counts[base + ((from[i + word] >>> shift) & 0xffff)]++;
      to[at] = from[i];
      to[at + 1] = from[i + 1];
    }
    [from, to] = [to, from];
  }
  for (let i = 0; i < 2 * n; i += 2) {
    if (from[i + 1] & 0x80000000) from[i + 1] &= 0x7fffffff;
    else {
      from[i] = ~from[i];
      from[i + 1] = ~from[i + 1];
    }
  }
  if (from !== own) own.set(from);
  return values;
}

/**
 * The values sorted when at least half are the minimum (a terminal's fraud share is mostly 0): only the others are
 * radix-sorted, after the run of minimums. Undefined when fewer are, or when both zeros occur (−0 sorts before +0).
 */
function sortAboveMinimum(values: Float64Array, min: number, scratch?: Float64Array): Float64Array | undefined {
  let others = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== min) values[others++] = v;
    else if (!Object.is(v, min)) {
      values.fill(min, others, i); // the values moved ahead of where they were left minimums behind
      return undefined;
    }
  }
  if (2 * others > values.length) {
    values.fill(min, others);
    return undefined;
  }
  radixSort(values.subarray(0, others), scratch);
  values.copyWithin(values.length - others, 0, others);
  return values.fill(min, 0, values.length - others);
}

/**
 * Sorts finite values ascending in place (counting sort for small-range integers, else a radix sort) and returns them.
 * `scratch`: storage for at least as many values that the radix sort may use instead of allocating its own.
 */
export function sortValues(values: Float64Array, scratch?: Float64Array): Float64Array {
  const n = values.length;
  if (n < 2) return values;
  let min = values[0];
  let max = values[0];
  let integer = true;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    else if (v > max) max = v;
    if (integer && Math.floor(v) !== v) integer = false;
  }
  if (!integer || max - min > COUNTING_SORT_RANGE) {
    if (n < RADIX_SORT_MIN) return values.sort();
    return sortAboveMinimum(values, min, scratch) ?? radixSort(values, scratch);
  }
  const counts = new Int32Array(max - min + 1);
  for (let i = 0; i < n; i++) counts[values[i] - min]++;
  let at = 0;
  for (let k = 0; k < counts.length; k++) {
    values.fill(min + k, at, at + counts[k]);
    at += counts[k];
  }
  return values;
}

/** Values < x in a sorted array. */
export function countBelow(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Values <= x in a sorted array. */
export function countAtMost(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The p-quantile of a non-empty sorted array, interpolating linearly between order statistics. */
export function quantile(sorted: Float64Array, p: number): number {
  const position = p * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]);
}

/** Counts of a sorted array in right-closed bins with the given (ascending) cuts. */
export function binCounts(sorted: Float64Array, cuts: readonly number[]): number[] {
  const counts: number[] = [];
  let previous = 0;
  for (const cut of cuts) {
    const upTo = countAtMost(sorted, cut);
    counts.push(upTo - previous);
    previous = upTo;
  }
  counts.push(sorted.length - previous);
  return counts;
}

/** Counts of a sorted array in the display bins [edges[i], edges[i+1]), the ends absorbing what lies beyond them. */
export function histogramCounts(sorted: Float64Array, edges: readonly number[]): number[] {
  const counts: number[] = [];
  let previous = 0;
  for (let i = 1; i < edges.length; i++) {
    const below = i === edges.length - 1 ? sorted.length : countBelow(sorted, edges[i]);
    counts.push(below - previous);
    previous = below;
  }
  return counts;
}

function distinctAscending(values: number[]): number[] {
  return values.filter((v, i) => i === 0 || v > values[i - 1]);
}

function histogramEdges(sorted: Float64Array, integer: boolean): number[] {
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  if (integer && max - min <= MAX_UNIT_BINS) return Array.from({ length: max - min + 2 }, (_, i) => min - 0.5 + i);
  let lo = quantile(sorted, 0.001);
  let hi = quantile(sorted, 0.999);
  if (!(hi > lo)) [lo, hi] = [min, max];
  if (!(hi > lo)) return [lo - 0.5, lo + 0.5];
  return Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => (i === HISTOGRAM_BINS ? hi : lo + ((hi - lo) * i) / HISTOGRAM_BINS));
}

/** Mean, spread, quantiles, display histogram, drift bins and CDF grid of a non-empty sorted array. */
export function summarize(sorted: Float64Array): Summary {
  const n = sorted.length;
  let sum = 0;
  let integer = true;
  for (let i = 0; i < n; i++) {
    sum += sorted[i];
    if (integer && Math.floor(sorted[i]) !== sorted[i]) integer = false;
  }
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (sorted[i] - mean) ** 2;
  const quantiles = Object.fromEntries(Object.entries(QUANTILES).map(([name, p]) => [name, quantile(sorted, p)])) as Summary['quantiles'];
  const cuts = distinctAscending(Array.from({ length: DRIFT_BINS - 1 }, (_, i) => quantile(sorted, (i + 1) / DRIFT_BINS)));
  const cdfX = distinctAscending(Array.from({ length: CDF_POINTS }, (_, i) => quantile(sorted, i / (CDF_POINTS - 1))));
  const edges = histogramEdges(sorted, integer);
  return {
    mean,
    std: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    min: sorted[0],
    max: sorted[n - 1],
    integer,
    quantiles,
    histogram: { edges, counts: histogramCounts(sorted, edges) },
    bins: { cuts, counts: binCounts(sorted, cuts) },
    cdf: { x: cdfX, p: cdfX.map((x) => countAtMost(sorted, x) / n), below: cdfX.map((x) => countBelow(sorted, x) / n) },
  };
}

/** Statistics of a column given its finite values (sorted in place) and the number of absent or non-numeric ones; `scratch` as for sortValues. */
export function columnStatistics(values: Float64Array, missing: number, scratch?: Float64Array): ColumnStatistics {
  if (values.length === 0) return { count: 0, missing };
  return { count: values.length, missing, summary: summarize(sortValues(values, scratch)) };
}
