// Public bin edges of DP-EBM. Every cut is a function of the feature set's declared bounds (records.bounds, the
// numeric columns' ranges) and the bin count alone, never of the data, then carried through the model's input
// transform (monotone per input), so binning a transformed input by these cuts is binning its raw value by public
// cuts. Amounts and counts are cut evenly on the log1p scale between their bounds (counts at half-integers, so equal
// values share a bin), the terminal risks evenly on (0, 1] with exact 0 alone, 0/1 inputs at ½.
import { InvalidInputError } from '../errors';
import type { FeatureSet } from '../feature-set';
import { FEATURE_NAMES, type FeatureName, WINDOW_DAYS } from '../features';
import type { TransformSpec } from '../transforms';

/** Per model input, ascending cuts in the transformed input space; bin k holds (cuts[k−1], cuts[k]], the last (cuts[end], ∞). */
export type BinCuts = number[][];

/** Far below the smallest non-zero share a terminal's window can hold. */
const ZERO_SHARE = 1e-6;

const logCuts = (lo: number, hi: number, bins: number): number[] =>
  Array.from({ length: bins - 1 }, (_, k) => Math.expm1(Math.log1p(lo) + ((k + 1) * (Math.log1p(hi) - Math.log1p(lo))) / bins));

const linearCuts = (lo: number, hi: number, bins: number): number[] =>
  Array.from({ length: bins - 1 }, (_, k) => lo + ((k + 1) * (hi - lo)) / bins);

/** Half-integer cuts of a whole-valued count, without repeats. */
const countCuts = (hi: number, bins: number): number[] => [...new Set(logCuts(0, hi, bins).map((c) => Math.floor(c) + 0.5))];

function coreCuts(feature: FeatureName, bounds: FeatureSet['bounds'], bins: number): number[] {
  if (feature === 'TX_AMOUNT' || feature.startsWith('CUSTOMER_ID_AVG_AMOUNT_')) return logCuts(bounds.amount[0], bounds.amount[1], bins);
  if (feature === 'TX_DURING_WEEKEND' || feature === 'TX_DURING_NIGHT') return [0.5];
  if (feature.startsWith('TERMINAL_ID_RISK_')) return [ZERO_SHARE, ...linearCuts(0, 1, bins - 1)];
  const days = WINDOW_DAYS.find((n) => feature.endsWith(`_${n}DAY_WINDOW`)) ?? 1;
  const perDay = feature.startsWith('CUSTOMER_ID_') ? bounds.cardTxPerDay : bounds.terminalTxPerDay;
  return countCuts(perDay * days, bins);
}

/** Raw-value cuts of every input of the set, in its order. */
function rawCuts(set: FeatureSet, bins: number): number[][] {
  const extras = set.extras.flatMap((extra): number[][] => {
    if (extra.kind === 'categorical') return Array.from({ length: extra.buckets ?? 0 }, () => [0.5]);
    const [lo, hi] = extra.range ?? [-1, 1];
    return [lo >= 0 ? logCuts(lo, hi, bins) : linearCuts(lo, hi, bins)];
  });
  return [...FEATURE_NAMES.map((f) => coreCuts(f, set.bounds, bins)), ...extras];
}

/** The public cuts of each model input for at most `bins` bins, in the space of `transform`'s outputs. */
export function publicBinCuts(transform: TransformSpec, set: FeatureSet, bins: number): BinCuts {
  if (!Number.isSafeInteger(bins) || bins < 2 || bins > 1024)
    throw new InvalidInputError(`bins = ${bins}: must be a whole number in [2, 1024]`);
  const raw = rawCuts(set, bins);
  if (raw.length !== transform.features.length)
    throw new InvalidInputError(`transform has ${transform.features.length} inputs: the feature set has ${raw.length}`);
  return raw.map((cuts, j) => {
    const { log1p, center, scale } = transform.features[j];
    return cuts.map((c) => ((log1p ? Math.log1p(c) : c) - center) / scale);
  });
}

/** Checks cuts: one ascending list of finite numbers per input. */
export function checkCuts(cuts: BinCuts, cols: number, where: string): void {
  if (!Array.isArray(cuts) || cuts.length !== cols) throw new InvalidInputError(`${where} must list cuts for each of the ${cols} inputs`);
  cuts.forEach((list, j) => {
    const ok = Array.isArray(list) && list.every((c, k) => Number.isFinite(c) && (k === 0 || c > list[k - 1]));
    if (!ok) throw new InvalidInputError(`${where}[${j}] must be an ascending list of finite numbers`);
  });
}
