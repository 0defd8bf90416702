// The EBM model: per input, public cuts and an additive score per bin, plus an intercept; the score of a row is
// sigmoid(intercept + Σ_j score_j[bin_j(x_j)]). Plain JSON: it travels in the bundle as ebm.json.
import { InvalidInputError } from '../errors';
import { countBelow } from '../validation/stats';
import { type BinCuts, checkCuts } from './bins';

export const EBM_FORMAT = 'fraudops-ebm/1';

export interface EbmTerm {
  /** Public cuts (BinCuts) in the transformed input space. */
  cuts: number[];
  /** One additive logit score per bin: cuts.length + 1. */
  scores: number[];
}

export interface EbmModel {
  format: typeof EBM_FORMAT;
  intercept: number;
  /** One term per model input, in the feature set's order. */
  terms: EbmTerm[];
}

/** Per input, each row's bin (inputs × rows, input-major). */
export function binRows(cuts: BinCuts, x: ArrayLike<number>, rows: number): Uint16Array[] {
  const cols = cuts.length;
  if (x.length !== rows * cols)
    throw new InvalidInputError(`x has ${x.length} values: it must hold rows × ${cols} inputs = ${rows * cols}`);
  return cuts.map((list, j) => {
    const c = Float64Array.from(list);
    const bins = new Uint16Array(rows);
    for (let i = 0; i < rows; i++) bins[i] = countBelow(c, x[i * cols + j]);
    return bins;
  });
}

/** Scores (probabilities) of transformed rows (rows × inputs, row-major). */
export function predictEbm(model: EbmModel, x: ArrayLike<number>, rows: number): Float32Array {
  const cols = model.terms.length;
  if (x.length !== rows * cols)
    throw new InvalidInputError(`x has ${x.length} values: it must hold rows × ${cols} inputs = ${rows * cols}`);
  const cuts = model.terms.map((t) => Float64Array.from(t.cuts));
  const out = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let logit = model.intercept;
    for (let j = 0; j < cols; j++) logit += model.terms[j].scores[countBelow(cuts[j], x[i * cols + j])];
    out[i] = 1 / (1 + Math.exp(-logit));
  }
  return out;
}

/** Checks a model (e.g. read back from a bundle) for `cols` inputs; returns a clean copy. */
export function parseEbmModel(value: unknown, cols: number): EbmModel {
  const m = value as EbmModel;
  if (typeof m !== 'object' || m === null || m.format !== EBM_FORMAT)
    throw new InvalidInputError(`ebm model: format must be "${EBM_FORMAT}"`);
  if (!Number.isFinite(m.intercept)) throw new InvalidInputError(`ebm model: intercept = ${m.intercept}: must be a finite number`);
  if (!Array.isArray(m.terms)) throw new InvalidInputError('ebm model: terms must be a list');
  checkCuts(
    m.terms.map((t) => t?.cuts),
    cols,
    'ebm model: terms[].cuts',
  );
  m.terms.forEach((t, j) => {
    if (!Array.isArray(t.scores) || t.scores.length !== t.cuts.length + 1 || !t.scores.every(Number.isFinite))
      throw new InvalidInputError(`ebm model: terms[${j}].scores must hold cuts.length + 1 = ${t.cuts.length + 1} finite numbers`);
  });
  return { format: EBM_FORMAT, intercept: m.intercept, terms: m.terms.map((t) => ({ cuts: [...t.cuts], scores: [...t.scores] })) };
}
