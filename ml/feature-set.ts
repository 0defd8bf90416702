// The model's inputs for a declared record: the handbook's 15 features (ml/features.ts), then one input per declared
// numeric column and a few hashed indicator inputs per categorical column. The set travels in the model bundle, so
// serving computes exactly the inputs the model was trained on.
//
// Categorical values are hashed (FNV-1a) into a declared number of buckets, one 0/1 input each, rather than looked up
// in a vocabulary: a vocabulary read from the training data would be a data-dependent choice outside the privacy
// budget (it reveals which categories occur), while hashing needs nothing but the declaration. Collisions merge
// categories; more buckets (records.columns.<c>.buckets) make them rarer at the cost of more inputs.
import { HANDBOOK_DECLARATION, type RecordDeclaration, type Scalar } from '../records';
import { InvalidInputError } from './errors';
import { FEATURE_COUNT, FEATURE_NAMES } from './features';

export interface ExtraFeature {
  column: string;
  kind: 'numeric' | 'categorical';
  /** numeric: the public range (a value is clipped into it; a missing one counts as 0 clipped into it). */
  range?: readonly [number, number];
  /** categorical: indicator inputs, one per hash bucket. */
  buckets?: number;
}

export interface FeatureSet {
  /** Input names, in order: FEATURE_NAMES, then the extra features'. */
  names: string[];
  extras: ExtraFeature[];
  /** Where the DP transform's public moments come from (records.moments). */
  moments: 'simulator' | 'bounds';
  /** Public bounds of the record (records.bounds), for the DP transform. */
  bounds: { amount: readonly [number, number]; cardTxPerDay: number; terminalTxPerDay: number };
}

function extraNames(extra: ExtraFeature): string[] {
  if (extra.kind === 'numeric') return [extra.column];
  return Array.from({ length: extra.buckets ?? 0 }, (_, b) => `${extra.column}#${b}`);
}

/** The inputs a declaration gives: carried columns are stored, never features. */
export function featureSetOf(declaration: RecordDeclaration): FeatureSet {
  const extras: ExtraFeature[] = declaration.columns.flatMap((c): ExtraFeature[] => {
    if (c.kind === 'numeric') return [{ column: c.name, kind: 'numeric', range: c.range }];
    if (c.kind === 'categorical') return [{ column: c.name, kind: 'categorical', buckets: c.buckets }];
    return [];
  });
  return {
    names: [...FEATURE_NAMES, ...extras.flatMap(extraNames)],
    extras,
    moments: declaration.moments,
    bounds: declaration.bounds,
  };
}

/** The handbook's record gives the 15 handbook features and nothing else. */
export const HANDBOOK_FEATURE_SET: FeatureSet = featureSetOf(HANDBOOK_DECLARATION);

/** FNV-1a (32 bits) of a string's UTF-16 code units: a stable hash with no dependency. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The hash bucket of a category. */
export function categoryBucket(value: string, buckets: number): number {
  return fnv1a(value) % buckets;
}

/**
 * Writes the extra inputs of one row at out[offset + FEATURE_COUNT …] (offset: the row's start), reading each declared
 * column's value through `value`.
 */
export function encodeExtras(set: FeatureSet, value: (column: string) => Scalar | undefined, out: Float64Array, offset: number): void {
  let k = offset + FEATURE_COUNT;
  for (const extra of set.extras) {
    const v = value(extra.column);
    if (extra.kind === 'numeric') {
      const [lo, hi] = extra.range ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
      const n = typeof v === 'number' && Number.isFinite(v) ? v : 0;
      out[k++] = Math.min(hi, Math.max(lo, n));
    } else {
      const buckets = extra.buckets ?? 0;
      out.fill(0, k, k + buckets);
      if (v !== null && v !== undefined) out[k + categoryBucket(String(v), buckets)] = 1;
      k += buckets;
    }
  }
}

/**
 * Rows of the core features (rows × FEATURE_COUNT) widened to the set (rows × set.names.length) with the extra inputs
 * of `columns` (declared name → values by source row); `order[i]` is the source row of output row i. Without extras the
 * core rows are returned as they are.
 */
export function widenFeatures(
  set: FeatureSet,
  core: Float64Array,
  rows: number,
  columns: Record<string, ArrayLike<Scalar>>,
  order?: ArrayLike<number>,
): Float64Array {
  if (!set.extras.length) return core;
  const missing = set.extras.find((e) => !columns[e.column]);
  if (missing) throw new InvalidInputError(`the data has no column "${missing.column}" (records.columns.${missing.column})`);
  const width = set.names.length;
  const out = new Float64Array(rows * width);
  let source = 0;
  const value = (column: string) => columns[column][source];
  for (let i = 0; i < rows; i++) {
    source = order ? order[i] : i;
    out.set(core.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), i * width);
    encodeExtras(set, value, out, i * width);
  }
  return out;
}

/** Checks a feature set read back from a bundle: its names must be the ones its extras give. */
export function parseFeatureSet(value: unknown): FeatureSet {
  const set = value as FeatureSet;
  const extras = Array.isArray(set?.extras) ? set.extras : [];
  const expected = [...FEATURE_NAMES, ...extras.flatMap(extraNames)];
  if (!Array.isArray(set?.names) || set.names.join('\u0000') !== expected.join('\u0000')) {
    throw new InvalidInputError(`names must be FEATURE_NAMES then the extra features (${expected.join(', ')})`);
  }
  if (set.moments !== 'simulator' && set.moments !== 'bounds')
    throw new InvalidInputError(`moments = ${JSON.stringify(set.moments)}: simulator | bounds`);
  const { amount, cardTxPerDay, terminalTxPerDay } = set.bounds ?? {};
  if (!Array.isArray(amount) || !(amount[0] < amount[1]) || !(cardTxPerDay > 0) || !(terminalTxPerDay > 0))
    throw new InvalidInputError('bounds must hold amount [lo, hi], cardTxPerDay > 0 and terminalTxPerDay > 0');
  return {
    names: [...set.names],
    extras: extras.map((e) => ({ ...e })),
    moments: set.moments,
    bounds: { amount: [amount[0], amount[1]], cardTxPerDay, terminalTxPerDay },
  };
}
