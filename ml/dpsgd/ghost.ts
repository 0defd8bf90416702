// Per-example gradient norms by the ghost-norm identity and the clipped gradient sum, without per-example gradients.
// Layer l's gradient for example i is the outer product ã_i ⊗ δ_i (input with the bias's 1 appended, times the
// back-propagated error), so ‖g_i‖² = Σ_l ‖ã_i‖²·‖δ_i‖² and Σ_i c_i·g_i = Ãᵀ·(c ⊙ Δ), one matrix product per layer.
// The trainer reads the per-row norm factors (one download of B×(2L−1) numbers), computes ‖g_i‖² and c_i in float64,
// and uploads c: one round trip instead of a dozen small tensor ops a step.
import { tf } from '../tensorflow';
import { type LayerShape, readBlocks } from './mlp';
import { matMul, rowNorms } from './native-ops';

/**
 * Σ_i c_i·g_i per layer, as its (in+1)×columns block (weights rows, then the bias row; a hidden layer's last column is
 * its constant unit's, always 0: see mlp.ts); plain Σ_i g_i when `factors` is null. c scales whichever of ã and Δ is
 * narrower.
 */
export function gradientBlocks(inputs: readonly tf.Tensor2D[], deltas: readonly tf.Tensor2D[], factors: tf.Tensor2D | null): tf.Tensor2D[] {
  return inputs.map((input, l) => {
    let a = input;
    let d = deltas[l];
    if (factors && a.shape[1] <= d.shape[1]) a = tf.mul(factors, a);
    else if (factors) d = tf.mul(factors, d);
    return matMul(a, d, true, false);
  });
}

/** gradientBlocks' blocks read into the flat parameter layout (`size` parameters), in float64. */
export function flatGradient(blocks: readonly tf.Tensor2D[], shapes: readonly LayerShape[], size: number): Float64Array {
  const gradient = new Float64Array(size);
  readBlocks(
    blocks.map((block) => block.dataSync() as Float32Array),
    shapes,
    gradient,
  );
  return gradient;
}

/**
 * Per row, the factors of ‖g_i‖² = Σ_l ‖ã_l‖²·‖Δ_l‖² that only the backend has, as one B×(2L−1) tensor:
 * [‖Δ_0‖, ‖ã_1‖, ‖Δ_1‖, …, ‖ã_{L−1}‖, Δ_{L−1}] (the output layer's error is one number; ‖ã_0‖² comes with the data).
 */
export function normFactors(inputs: readonly tf.Tensor2D[], deltas: readonly tf.Tensor2D[]): tf.Tensor2D {
  const last = deltas.length - 1;
  const columns = deltas.flatMap((delta, l) => {
    const error = l === last ? delta : rowNorms(delta);
    return l === 0 ? [error] : [rowNorms(inputs[l]), error];
  });
  return columns.length === 1 ? columns[0] : tf.concat2d(columns, 1);
}

/** ‖g_i‖² in float64 from normFactors' values (row-major, B×(2L−1)) and ‖ã_0‖² of each row. */
export function squaredNormsFromFactors(values: ArrayLike<number>, firstInputSquaredNorms: ArrayLike<number>): Float64Array {
  const rows = firstInputSquaredNorms.length;
  const width = values.length / rows;
  const norms = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const at = i * width;
    let sum = firstInputSquaredNorms[i] * values[at] ** 2;
    for (let k = at + 1; k < at + width; k += 2) sum += (values[k] * values[k + 1]) ** 2;
    norms[i] = sum;
  }
  return norms;
}

/** A per-unit bound on squared gradient norms: the factor c that scales the unit's gradient. */
export type FactorOf = (squaredNorm: number) => number;

/** c = min(1, C/‖g‖), written C / max(C, ‖g‖) so a zero gradient gives 1 without dividing by 0. */
export const clipFactor =
  (clipNorm: number): FactorOf =>
  (squaredNorm) =>
    clipNorm / Math.max(clipNorm, Math.sqrt(squaredNorm));

/**
 * c = C/(‖g‖ + γ): automatic clipping (Bu et al. 2023) scaled by C. ‖c·g‖ = C·‖g‖/(‖g‖ + γ) < C for every g, so the
 * sensitivity is C as with clipFactor; a zero gradient gets C/γ and still contributes 0.
 */
export const normalisingFactor =
  (clipNorm: number, stability: number): FactorOf =>
  (squaredNorm) =>
    clipNorm / (Math.sqrt(squaredNorm) + stability);

const float32 = new Float32Array(1);
const float32Bits = new Int32Array(float32.buffer);

/** The largest float32 ≤ x (x > 0): uploading a factor never rounds it up, so ‖c·g‖ ≤ C survives the rounding. */
export function float32AtMost(x: number): number {
  float32[0] = x;
  if (float32[0] > x) float32Bits[0]--;
  return float32[0];
}

/**
 * c_i of each row (float32, never rounded up) from its ghost norm: the norm factors are read once (B×(2L−1) numbers),
 * ‖g_i‖² and c_i computed in float64. `firstInputSquaredNorms`: ‖ã_0‖² of each row, known with the data.
 */
export function rowClipFactors(
  inputs: readonly tf.Tensor2D[],
  deltas: readonly tf.Tensor2D[],
  firstInputSquaredNorms: ArrayLike<number>,
  factor: FactorOf,
): Float32Array {
  const squaredNorms = squaredNormsFromFactors(normFactors(inputs, deltas).dataSync(), firstInputSquaredNorms);
  return Float32Array.from(squaredNorms, (squared) => float32AtMost(factor(squared)));
}

/**
 * c_i of each of `rows` batch rows from its card's ‖G_k‖² (`cardOf[i]`: row i's card); rows past cardOf (padding,
 * Δ = 0) get 0.
 */
export function cardRowFactors(
  cardSquaredNorms: ArrayLike<number>,
  cardOf: ArrayLike<number>,
  rows: number,
  factor: FactorOf,
): Float32Array {
  const cardFactors = Array.from(cardSquaredNorms, (squared) => float32AtMost(factor(squared)));
  const factors = new Float32Array(rows);
  for (let i = 0; i < cardOf.length; i++) factors[i] = cardFactors[cardOf[i]];
  return factors;
}

/**
 * ‖G_k‖² (K×1) of each card's summed gradient G_k = Σ_{i∈k} g_i, by materialising it: per layer one batched product
 * Ã_kᵀ·Δ_k over the cards laid out K×L. `layout` (K·L) gives card k's rows of the batch at k·L … k·L + L − 1, the rest
 * pointing at a padding row (Δ = 0).
 */
export function perCardSquaredNormsMaterialised(
  inputs: readonly tf.Tensor2D[],
  deltas: readonly tf.Tensor2D[],
  layout: tf.Tensor1D,
  cards: number,
  length: number,
): tf.Tensor2D {
  const terms = inputs.map((input, l) => {
    const a = tf.reshape<tf.Rank.R3>(tf.gather(input, layout), [cards, length, input.shape[1]]);
    const d = tf.reshape<tf.Rank.R3>(tf.gather(deltas[l], layout), [cards, length, deltas[l].shape[1]]);
    return tf.sum<tf.Tensor2D>(tf.square(tf.matMul(a, d, true, false)), [1, 2]);
  });
  return tf.reshape(terms.length === 1 ? terms[0] : tf.addN(terms), [cards, 1]);
}
