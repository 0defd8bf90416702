// The drift reference that travels with a model (reference.json in the bundle): per feature, the training rows
// counted in FIXED PUBLIC bins whose edges come from the declaration's public bounds (records.bounds), never from the
// data, so no min, max or percentile of a private record leaves with the model. The file keeps the shape of
// ReferenceStatistics, so the validation step and the scorer's drift gauges read it unchanged; every summary in it
// (mean, spread, quantiles, the ends) is computed from the bin counts alone. The counts themselves are exact: the
// privacy report names them as released outside the budget (referenceRelease).
import type { TxRecord } from '../../records';
import { InvalidInputError } from '../errors';
import type { FeatureSet } from '../feature-set';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES, type FeatureName, WINDOW_DAYS } from '../features';
import type { ReferenceFeature, ReferenceStatistics } from './reference';
import { binCounts, QUANTILES } from './stats';

/** Bins of a log-scaled feature (amounts, counts) between its public bounds. */
export const PUBLIC_LOG_BINS = 20;
/** Bins of a [0, 1] share (the terminal risks) beyond the bin holding exactly 0. */
export const PUBLIC_SHARE_BINS = 10;
/**
 * Cuts sit between the values a feature can take, so a bin's share at and below a cut are the same (the CDF needs
 * both): half-way between whole numbers for counts and flags, half a cent off for amounts, and this far above a
 * share, far below 1/denominator of any terminal's window count.
 */
const SHARE_OFFSET = 1e-9;

export interface PublicBins {
  feature: FeatureName;
  /** Public range [lo, hi] the bins span (the ends of the first and last bin). */
  lo: number;
  hi: number;
  /** Ascending cuts; bins are right-closed: (−∞, cuts[0]], …, (cuts[k−1], +∞). */
  cuts: number[];
  /** The feature takes whole values only. */
  integer: boolean;
}

export interface PublicReference extends ReferenceStatistics {
  basis: 'public-bins';
  /** What was counted (e.g. 'labelled rows of snapshot 3f2a…'): `rows` rows of it. */
  split: string;
}

/** k log-spaced points strictly inside (0, hi) on the log1p scale, excluding both ends. */
const logPoints = (hi: number, k: number): number[] => Array.from({ length: k - 1 }, (_, i) => Math.expm1(((i + 1) * Math.log1p(hi)) / k));

const distinctInside = (cuts: number[], lo: number, hi: number): number[] =>
  cuts.filter((c, i) => c > lo && c < hi && (i === 0 || c > cuts[i - 1]));

/** The public bins of each handbook feature (the features validation checks), from the feature set's bounds only. */
export function publicBins(set: Pick<FeatureSet, 'bounds'>): PublicBins[] {
  const { amount, cardTxPerDay, terminalTxPerDay } = set.bounds;
  return FEATURE_NAMES.map((feature): PublicBins => {
    if (feature === 'TX_AMOUNT' || feature.startsWith('CUSTOMER_ID_AVG_AMOUNT_')) {
      const [lo, hi] = amount;
      const cuts = logPoints(hi - lo, PUBLIC_LOG_BINS).map((p) => Math.round((lo + p) * 100) / 100 + 0.005);
      return { feature, lo, hi, cuts: distinctInside(cuts, lo, hi), integer: false };
    }
    if (feature === 'TX_DURING_WEEKEND' || feature === 'TX_DURING_NIGHT') return { feature, lo: 0, hi: 1, cuts: [0.5], integer: true };
    if (feature.startsWith('TERMINAL_ID_RISK_')) {
      const cuts = Array.from({ length: PUBLIC_SHARE_BINS }, (_, i) => i / PUBLIC_SHARE_BINS + SHARE_OFFSET);
      return { feature, lo: 0, hi: 1, cuts, integer: false };
    }
    const days = WINDOW_DAYS.find((n) => feature.endsWith(`_${n}DAY_WINDOW`)) ?? 1;
    const hi = (feature.startsWith('CUSTOMER_ID_') ? cardTxPerDay : terminalTxPerDay) * days;
    const cuts = logPoints(hi, PUBLIC_LOG_BINS).map((p) => Math.floor(p) + 0.5);
    return { feature, lo: 0, hi, cuts: distinctInside(cuts, 0, hi), integer: true };
  });
}

function binOf(cuts: readonly number[], value: number): number {
  let [lo, hi] = [0, cuts.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cuts[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The middle of the values bin i can hold within the public range. */
function representative(bins: PublicBins, i: number): number {
  const { lo, hi, cuts, integer } = bins;
  const last = i === cuts.length;
  if (integer) return ((i === 0 ? lo : Math.floor(cuts[i - 1]) + 1) + (last ? hi : Math.floor(cuts[i]))) / 2;
  return ((i === 0 ? lo : cuts[i - 1]) + (last ? hi : cuts[i])) / 2;
}

/** The feature's reference entry, every number a function of the public bins and their counts. */
function fromCounts(bins: PublicBins, counts: number[], rows: number): ReferenceFeature {
  const reps = counts.map((_, i) => representative(bins, i));
  const mean = counts.reduce((s, c, i) => s + c * reps[i], 0) / rows;
  const squares = counts.reduce((s, c, i) => s + c * (reps[i] - mean) ** 2, 0);
  const cumulative: number[] = [];
  for (const c of counts) cumulative.push((cumulative.at(-1) ?? 0) + c);
  const repAtRank = (rank: number) => reps[cumulative.findIndex((upTo) => upTo > rank)];
  const filled = counts.flatMap((c, i) => (c > 0 ? [i] : []));
  const shares = cumulative.slice(0, -1).map((upTo) => upTo / rows);
  return {
    name: bins.feature,
    count: rows,
    mean,
    std: rows > 1 ? Math.sqrt(squares / (rows - 1)) : 0,
    min: reps[filled[0]],
    max: reps[filled[filled.length - 1]],
    integer: bins.integer,
    quantiles: Object.fromEntries(
      Object.entries(QUANTILES).map(([name, p]) => [name, repAtRank(Math.floor(p * (rows - 1)))]),
    ) as ReferenceFeature['quantiles'],
    histogram: { edges: [bins.lo, ...bins.cuts, bins.hi], counts },
    bins: { cuts: bins.cuts, counts },
    cdf: { x: bins.cuts, p: shares, below: shares },
  };
}

/**
 * The public-bin reference of raw feature rows (rows × set.names.length, row-major, the handbook features first):
 * what reference.json holds. `split` names the rows counted (e.g. 'training split 2024-05-01 to 2024-05-07').
 */
export function publicReferenceStatistics(
  x: ArrayLike<number>,
  rows: number,
  set: Pick<FeatureSet, 'names' | 'bounds'>,
  split: string,
): PublicReference {
  const width = set.names.length;
  assertRows(rows);
  if (x.length !== rows * width)
    throw new InvalidInputError(`x has ${x.length} values: it must hold rows × ${width} inputs = ${rows * width}`);
  const bins = publicBins(set);
  const counts = bins.map((b, j) => {
    const counts = new Array<number>(b.cuts.length + 1).fill(0);
    for (let r = 0; r < rows; r++) {
      const value = x[r * width + j];
      if (!Number.isFinite(value)) throw new InvalidInputError(`x[${r}][${b.feature}] = ${value}: features must be finite`);
      counts[binOf(b.cuts, value)]++;
    }
    return counts;
  });
  return publicReferenceOfCounts(bins, counts, rows, split);
}

function assertRows(rows: number): void {
  if (!(Number.isSafeInteger(rows) && rows >= 1)) throw new InvalidInputError(`rows = ${rows}: the reference needs at least one row`);
}

/** A feature's values counted in its public bins, from the values sorted ascending (as validation sorts them). */
export function sortedBinCounts(sorted: Float64Array, bins: PublicBins): number[] {
  for (const end of [sorted[0], sorted[sorted.length - 1]])
    if (!Number.isFinite(end)) throw new InvalidInputError(`${bins.feature} holds ${end}: features must be finite`);
  return binCounts(sorted, bins.cuts);
}

/** The public-bin reference of `rows` rows from each feature's counts in its public bins (publicBins order). */
export function publicReferenceOfCounts(bins: PublicBins[], counts: number[][], rows: number, split: string): PublicReference {
  assertRows(rows);
  const features = bins.map((b, j) => fromCounts(b, counts[j], rows));
  return { kind: 'fraudops.validation.reference', version: 1, basis: 'public-bins', split, rows, labels: 'required', features };
}

/**
 * The public-bin reference of labelled records in time order, with the features the validation step computes for
 * them (so the same records show no drift against it): what the pipeline's validation step stores for the bundle.
 */
export function publicReferenceOfRecords(
  records: readonly TxRecord[],
  bounds: FeatureSet['bounds'],
  labelDelayDays: number,
  split: string,
): PublicReference {
  const inputs = records.map((r) => ({
    transactionId: r.id,
    timestamp: r.time,
    customerId: r.customer,
    terminalId: r.terminal,
    amount: r.amount,
    fraud: r.label ?? 0,
  }));
  const x = computeFeatures(inputs, labelDelayDays);
  return publicReferenceStatistics(x, x.length / FEATURE_COUNT, { names: [...FEATURE_NAMES], bounds }, split);
}

/** True for a reference whose bins are public (what a bundle may carry). */
export const isPublicReference = (value: unknown): value is PublicReference =>
  typeof value === 'object' && value !== null && (value as PublicReference).basis === 'public-bins';

/** How the privacy report names what reference.json releases. */
export function referenceRelease(reference: PublicReference, unit: 'transaction' | 'card' | null): { name: string; statement: string } {
  const bins = Math.max(...reference.features.map((f) => f.bins.counts.length));
  const moves =
    unit === 'card'
      ? 'removing one card moves each feature’s counts by as many as the card has rows, and more through the terminal windows'
      : 'removing one transaction moves one count of each feature by one, and more through the window features';
  return {
    name: 'reference.json',
    statement:
      `reference.json (the drift reference in the bundle): exact counts of the ${reference.rows} ${reference.split} in fixed public ` +
      `bins (${reference.features.length} features, at most ${bins} bins each; edges from the declaration's public bounds, none from the data), ` +
      `and summaries computed from those counts alone. The counts carry no noise: ${moves}, so they are released outside the (ε, δ) above.`,
  };
}
