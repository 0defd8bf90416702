// SMOTE over-sampling with imbalanced-learn's semantics (`SMOTE(k_neighbors=k, sampling_strategy=ratio)`):
// the k nearest neighbours are taken among the minority rows only (Euclidean, exact), each synthetic row is
// x + U[0,1)·(neighbour − x) for a uniformly drawn minority row x and one of its k neighbours drawn uniformly,
// and the number of synthetic rows is trunc(ratio·n_majority − n_minority), as in imbalanced-learn.
// Documented behaviour beyond imbalanced-learn:
// - a row's own index is never its neighbour, but an identical copy of it is (distance 0): the segment then has
//   length 0 and the synthetic row equals the original. That is still a point on a segment between two rows.
// - distance ties are broken by the lower row index, so the output depends only on the data and the seed.
// - fewer than k + 1 minority rows is an error (imbalanced-learn raises too); k is never reduced silently.
import { InvalidInputError } from './errors';
import { Rng } from './random';

/** A labelled data set: `x` holds `rows × cols` features row-major, `y` the 0/1 class of each row. */
export interface LabelledMatrix {
  x: Float64Array;
  y: Uint8Array;
  rows: number;
  cols: number;
}

export interface SmoteOptions {
  /** Target n_minority / n_majority after resampling, in (current ratio, 1] (imbalanced-learn's float `sampling_strategy`). */
  ratio: number;
  /** Seed of the generator; the same data, options and seed give the same rows. */
  seed: number;
  /** Nearest minority neighbours to interpolate towards (default 5). */
  k?: number;
  /** Column names used in error messages (default `column <j>`). */
  columnNames?: readonly string[];
}

export interface SmoteResult extends LabelledMatrix {
  /** The first `originalRows` rows are the input, unchanged; the rest are synthetic minority rows. */
  originalRows: number;
  synthetic: number;
  minorityLabel: 0 | 1;
  /**
   * Per original row: 1 for the row itself plus the number of synthetic rows it took part in (as base or as
   * neighbour), i.e. how many training examples it influences (the group size for the privacy report).
   */
  influence: Uint32Array;
  /** Per synthetic row: original row index of its base point and of the neighbour it moved towards. */
  base: Uint32Array;
  neighbour: Uint32Array;
}

const DEFAULT_K = 5;
/** The second word of SMOTE's random stream key, after the seed. */
const SMOTE_STREAM = 1;

function columnName(options: Pick<SmoteOptions, 'columnNames'>, j: number): string {
  return options.columnNames?.[j] ?? `column ${j}`;
}

function validateMatrix(data: LabelledMatrix, options: Pick<SmoteOptions, 'columnNames'>): void {
  const { x, y, rows, cols } = data;
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 1) {
    throw new InvalidInputError(`rows = ${rows}, cols = ${cols}: rows must be a whole number >= 0 and cols >= 1`);
  }
  if (x.length !== rows * cols) {
    throw new InvalidInputError(`x has ${x.length} values: it must hold rows × cols = ${rows} × ${cols} = ${rows * cols}`);
  }
  if (y.length !== rows) throw new InvalidInputError(`y has ${y.length} labels: it must have one per row (${rows})`);
  if (options.columnNames && options.columnNames.length !== cols) {
    throw new InvalidInputError(`columnNames has ${options.columnNames.length} names: it must have one per column (${cols})`);
  }
  for (let i = 0; i < rows; i++) if (y[i] > 1) throw new InvalidInputError(`y[${i}] = ${y[i]}: labels must be 0 or 1`);
  // x·0 is 0 for finite x and NaN for NaN or ±Infinity: one branch-free pass, then a search only on failure.
  let probe = 0;
  for (let i = 0; i < x.length; i++) probe += x[i] * 0;
  if (probe === 0) return;
  const bad = x.findIndex((value) => !Number.isFinite(value));
  const i = Math.floor(bad / cols);
  throw new InvalidInputError(`row ${i}, ${columnName(options, bad - i * cols)} = ${x[bad]}: features must be finite numbers`);
}

/** Number of synthetic rows imbalanced-learn generates for a float `sampling_strategy`; throws when it is not > 0. */
export function syntheticCount(minority: number, majority: number, ratio: number): number {
  if (!(ratio > 0 && ratio <= 1)) throw new InvalidInputError(`ratio = ${ratio}: the ratio must be in (0, 1]`);
  const count = Math.trunc(majority * ratio - minority);
  if (count <= 0) {
    throw new InvalidInputError(
      `ratio = ${ratio}: the data already has minority/majority = ${minority}/${majority} = ${(minority / majority).toPrecision(4)}; ` +
        `the ratio must be larger so that SMOTE has rows to add`,
    );
  }
  return count;
}

/**
 * Exact k nearest neighbours of every point among the others (squared Euclidean distance, ties to the lower
 * index). `points` is row-major `m × cols`; returns `m × k` neighbour indices, nearest first.
 */
export function nearestNeighbours(points: Float64Array, m: number, cols: number, k: number): Uint32Array {
  const idx = new Uint32Array(m * k);
  const dist = new Float64Array(m * k).fill(Number.POSITIVE_INFINITY);
  // Candidates reach each list in increasing index order, so inserting only on a strictly smaller distance
  // keeps ties in favour of the lower index. Each pair is measured once and offered to both lists.
  const offer = (list: number, candidate: number, d: number): void => {
    const start = list * k;
    let pos = start + k - 1;
    while (pos > start && d < dist[pos - 1]) {
      dist[pos] = dist[pos - 1];
      idx[pos] = idx[pos - 1];
      pos--;
    }
    dist[pos] = d;
    idx[pos] = candidate;
  };
  for (let i = 0; i < m; i++) {
    const a = i * cols;
    const worstI = i * k + k - 1;
    for (let j = i + 1; j < m; j++) {
      const b = j * cols;
      const worstJ = j * k + k - 1;
      let d = 0;
      for (let c = 0; c < cols; c++) {
        const diff = points[a + c] - points[b + c];
        d += diff * diff;
      }
      if (d < dist[worstI]) offer(i, j, d);
      if (d < dist[worstJ]) offer(j, i, d);
    }
  }
  return idx;
}

/** Over-samples the minority class (the less frequent label) of a training split; see the file comment. */
export function smote(data: LabelledMatrix, options: SmoteOptions): SmoteResult {
  const k = options.k ?? DEFAULT_K;
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k = ${k}: k must be a whole number >= 1`);
  validateMatrix(data, options);
  const { x, y, rows, cols } = data;
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
    throw new InvalidInputError(`seed = ${options.seed}: the seed must be a whole number >= 0`);
  }
  const random = new Rng([options.seed, SMOTE_STREAM]);

  let ones = 0;
  for (let i = 0; i < rows; i++) ones += y[i];
  if (ones === 0 || ones === rows) {
    throw new InvalidInputError(`y has a single class (${rows} rows, all ${ones ? 1 : 0}): SMOTE needs both classes`);
  }
  const minorityLabel: 0 | 1 = ones <= rows - ones ? 1 : 0;
  const minority = minorityLabel ? ones : rows - ones;
  const count = syntheticCount(minority, rows - minority, options.ratio);
  if (minority < k + 1) {
    throw new InvalidInputError(
      `k = ${k} needs at least k + 1 = ${k + 1} minority rows (label ${minorityLabel}); the data has ${minority}: lower k or add minority rows`,
    );
  }

  const origin = new Uint32Array(minority);
  const points = new Float64Array(minority * cols);
  for (let i = 0, m = 0; i < rows; i++) {
    if (y[i] !== minorityLabel) continue;
    origin[m] = i;
    points.set(x.subarray(i * cols, (i + 1) * cols), m * cols);
    m++;
  }
  const neighbours = nearestNeighbours(points, minority, cols, k);

  const total = rows + count;
  const outX = new Float64Array(total * cols);
  outX.set(x);
  const outY = new Uint8Array(total);
  outY.set(y);
  outY.fill(minorityLabel, rows);
  const influence = new Uint32Array(rows).fill(1);
  const base = new Uint32Array(count);
  const neighbour = new Uint32Array(count);
  for (let s = 0; s < count; s++) {
    // One draw picks (base, neighbour slot) uniformly, as imbalanced-learn's randint over the m × k table does.
    const cell = random.uniformInt(minority * k);
    const b = Math.floor(cell / k);
    const n = neighbours[cell];
    const step = random.uniform();
    const from = b * cols;
    const to = n * cols;
    const out = (rows + s) * cols;
    for (let c = 0; c < cols; c++) outX[out + c] = points[from + c] + step * (points[to + c] - points[from + c]);
    base[s] = origin[b];
    neighbour[s] = origin[n];
    influence[origin[b]]++;
    influence[origin[n]]++;
  }
  return { x: outX, y: outY, rows: total, cols, originalRows: rows, synthetic: count, minorityLabel, influence, base, neighbour };
}
