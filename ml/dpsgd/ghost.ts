// Per-example gradient norms by the ghost-norm identity and the clipped gradient sum, without per-example gradients.
// Layer l's gradient for example i is the outer product ã_i ⊗ δ_i (input with the bias's 1 appended, times the
// back-propagated error), so ‖g_i‖² = Σ_l ‖ã_i‖²·‖δ_i‖² and Σ_i c_i·g_i = Ãᵀ·(c ⊙ Δ), one matrix product per layer.
import { tf } from '../tensorflow';

function rowSquaredNorms(m: tf.Tensor2D): tf.Tensor2D {
  const squares = tf.square(m);
  return m.shape[1] === 1 ? squares : tf.sum<tf.Tensor2D>(squares, 1, true);
}

/**
 * ‖g_i‖², B×1, from each layer's inputs ã_l (B×(in+1)) and errors Δ_l (B×out). `firstInputSquaredNorms` may give
 * ‖ã_0‖² (B×1) computed once with the data, which saves two ops a step.
 */
export function perExampleSquaredNorms(
  inputs: readonly tf.Tensor2D[],
  deltas: readonly tf.Tensor2D[],
  firstInputSquaredNorms?: tf.Tensor2D,
): tf.Tensor2D {
  const terms = inputs.map((input, l) => {
    const inputNorms = l === 0 && firstInputSquaredNorms ? firstInputSquaredNorms : rowSquaredNorms(input);
    return tf.mul<tf.Tensor2D>(inputNorms, rowSquaredNorms(deltas[l]));
  });
  return terms.length === 1 ? terms[0] : tf.addN(terms);
}

/** c_i = min(1, C/‖g_i‖), written C / max(C, ‖g_i‖) so a zero gradient gives 1 without dividing by 0. */
export function clipFactors(squaredNorms: tf.Tensor2D, clipNorm: number): tf.Tensor2D {
  const limit = tf.scalar(clipNorm);
  return tf.div(limit, tf.maximum(limit, tf.sqrt(squaredNorms)));
}

/**
 * c_i = C/(‖g_i‖ + γ): automatic clipping (Bu et al. 2023) scaled by C. ‖c_i·g_i‖ = C·‖g_i‖/(‖g_i‖ + γ) < C for every
 * g_i, so the sensitivity is C as with clipFactors; a zero gradient gets C/γ and still contributes 0.
 */
export function normalisingFactors(squaredNorms: tf.Tensor2D, clipNorm: number, stability: number): tf.Tensor2D {
  return tf.div(tf.scalar(clipNorm), tf.add(tf.sqrt(squaredNorms), tf.scalar(stability)));
}

/**
 * Σ_i c_i·g_i per layer, as its (in+1)×out block (weights, then the bias row; for out = 1 the same numbers as a
 * 1×(in+1) row, by an elementwise product and a column sum instead of a matrix product); plain Σ_i g_i when
 * `factors` is null. c scales whichever of ã and Δ is narrower.
 */
export function gradientSum(inputs: readonly tf.Tensor2D[], deltas: readonly tf.Tensor2D[], factors: tf.Tensor2D | null): tf.Tensor2D[] {
  return inputs.map((input, l) => {
    let a = input;
    let d = deltas[l];
    if (factors && a.shape[1] <= d.shape[1]) a = tf.mul(factors, a);
    else if (factors) d = tf.mul(factors, d);
    return d.shape[1] === 1 ? tf.sum<tf.Tensor2D>(tf.mul(a, d), 0, true) : tf.matMul(a, d, true, false);
  });
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
