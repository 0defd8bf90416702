// Drift of a column against reference statistics: PSI and Jensen–Shannon divergence on the reference's decile
// bins, and the Kolmogorov–Smirnov distance on the reference's percentile grid. All three are effect sizes
// (how different the distributions are), not significance tests: their thresholds do not shrink with more rows.
import { binCounts, type Cdf, countAtMost, countBelow, type DriftBins, type Histogram, histogramCounts } from './stats';

/** Bin shares below this are raised to it in PSI, so an empty bin gives a large but finite term (as in common PSI tools). */
export const PSI_FLOOR = 1e-4;

export interface DriftLimits {
  psi: number;
  jensenShannon: number;
  kolmogorovSmirnov: number;
}

/**
 * A feature drifts past the thresholds: recorded and shown (the next model should learn the new data, not be refused
 * it). Past `hardLimit` the data is taken as broken (a unit or a column changed) and validation fails; without a hard
 * limit any drift fails.
 */
export interface DriftThresholds extends DriftLimits {
  hardLimit?: DriftLimits;
}

export interface DriftScores {
  psi: number;
  js: number;
  ks: number;
}

function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

function checkSameLength(reference: readonly number[], current: readonly number[]): void {
  if (reference.length !== current.length) throw new RangeError(`bin counts differ in length: ${reference.length} vs ${current.length}`);
}

/** Population stability index Σ (c − r) · ln(c / r) over bin shares, each floored at PSI_FLOOR. */
export function populationStabilityIndex(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  checkSameLength(referenceCounts, currentCounts);
  const r = shares(referenceCounts);
  const c = shares(currentCounts);
  let psi = 0;
  for (let i = 0; i < r.length; i++) {
    const ri = Math.max(r[i], PSI_FLOOR);
    const ci = Math.max(c[i], PSI_FLOOR);
    psi += (ci - ri) * Math.log(ci / ri);
  }
  return psi;
}

/** Jensen–Shannon divergence in bits (0 for identical shares, 1 for disjoint ones); empty bins contribute 0. */
export function jensenShannonDivergence(referenceCounts: readonly number[], currentCounts: readonly number[]): number {
  checkSameLength(referenceCounts, currentCounts);
  const p = shares(referenceCounts);
  const q = shares(currentCounts);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const m = (p[i] + q[i]) / 2;
    if (p[i] > 0) js += 0.5 * p[i] * Math.log2(p[i] / m);
    if (q[i] > 0) js += 0.5 * q[i] * Math.log2(q[i] / m);
  }
  // Rounding can leave −1e-17 for identical inputs.
  return Math.max(0, js);
}

/**
 * Kolmogorov–Smirnov distance sup |F_ref − F_cur|, evaluated at the reference's CDF grid (its percentiles), at
 * and just below each point, with F_cur exact from the current sorted values. The reference rows themselves
 * are not kept (only statistics travel with a model), so the exact two-sample statistic is out of reach; this
 * is a lower bound of it, short by at most the reference mass strictly between two neighbouring grid points:
 * about 1 % for a continuous feature, 0 for a discrete one whose values are all on the grid (flags, counts).
 */
export function kolmogorovSmirnovFromCdf(reference: Cdf, currentSorted: Float64Array): number {
  const n = currentSorted.length;
  let ks = 0;
  for (let i = 0; i < reference.x.length; i++) {
    const x = reference.x[i];
    ks = Math.max(
      ks,
      Math.abs(reference.p[i] - countAtMost(currentSorted, x) / n),
      Math.abs(reference.below[i] - countBelow(currentSorted, x) / n),
    );
  }
  return ks;
}

export interface ColumnDrift extends DriftScores {
  drifted: boolean;
  /** Past the hard limit (or drifted, when there is none): the validation fails. */
  beyondHardLimit: boolean;
  /** The reference's drift bins with the current values counted in them (what PSI and JS compare). */
  bins: { cuts: number[]; reference: number[]; current: number[] };
  /** The reference's display histogram with the current values counted in the same bins (for the plots). */
  histogram: { edges: number[]; reference: number[]; current: number[] };
}

/** Compares a non-empty sorted column with its reference statistics; drifted when any score exceeds its threshold. */
export function columnDrift(
  reference: { bins: DriftBins; histogram: Histogram; cdf: Cdf },
  currentSorted: Float64Array,
  thresholds: DriftThresholds,
): ColumnDrift {
  const current = binCounts(currentSorted, reference.bins.cuts);
  const scores = {
    psi: populationStabilityIndex(reference.bins.counts, current),
    js: jensenShannonDivergence(reference.bins.counts, current),
    ks: kolmogorovSmirnovFromCdf(reference.cdf, currentSorted),
  };
  const { edges } = reference.histogram;
  return {
    ...scores,
    drifted: exceeded(scores, thresholds).length > 0,
    beyondHardLimit: exceeded(scores, thresholds.hardLimit ?? thresholds).length > 0,
    bins: { cuts: reference.bins.cuts, reference: reference.bins.counts, current },
    histogram: { edges, reference: reference.histogram.counts, current: histogramCounts(currentSorted, edges) },
  };
}

/** The scores above their thresholds, as `{ name, value, limit }` (name: PSI, JS or KS), worst ratio first. */
export function exceeded(scores: DriftScores, thresholds: DriftLimits): { name: string; value: number; limit: number }[] {
  return [
    { name: 'PSI', value: scores.psi, limit: thresholds.psi },
    { name: 'JS', value: scores.js, limit: thresholds.jensenShannon },
    { name: 'KS', value: scores.ks, limit: thresholds.kolmogorovSmirnov },
  ]
    .filter((s) => s.value > s.limit)
    .sort((a, b) => b.value / b.limit - a.value / a.limit);
}
