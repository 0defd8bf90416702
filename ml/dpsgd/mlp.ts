// The MLP: parameters as one flat Float32Array, and forward / backward passes written with tf ops so the trainer can
// read per-example activations and errors (which the ghost-norm clipping needs) instead of only summed gradients.
//
// Layer l keeps weights and bias together as one (in+1)×out matrix W̃ (weights rows, then the bias row), and its
// input with a column of ones appended, ã = [a, 1]: then z = ã·W̃, the layer's per-example gradient is ã ⊗ δ, and
// its squared norm is ‖ã‖²·‖δ‖² with ‖ã‖² = ‖a‖² + 1.
import { InvalidInputError } from '../errors';
import type { Rng } from '../random';
import { tf } from '../tensorflow';
import { matMul, reluGradient } from './native-ops';
import type { MlpParameters } from './types';

export interface LayerShape {
  inputs: number;
  outputs: number;
  /** Where the layer's (inputs+1)×outputs block starts in the flat parameter vector. */
  offset: number;
}

export function layerShapes(inputs: number, hidden: readonly number[]): LayerShape[] {
  const shapes: LayerShape[] = [];
  let offset = 0;
  let width = inputs;
  for (const outputs of [...hidden, 1]) {
    shapes.push({ inputs: width, outputs, offset });
    offset += (width + 1) * outputs;
    width = outputs;
  }
  return shapes;
}

export function parameterCount(shapes: readonly LayerShape[]): number {
  const last = shapes[shapes.length - 1];
  return last.offset + (last.inputs + 1) * last.outputs;
}

/**
 * Glorot-uniform weights and zero biases (Keras' Dense defaults). Without a hidden layer (logistic regression) all
 * zeros: the loss is convex, there is no symmetry to break, and under DP's small steps a random start would stay
 * most of the model.
 */
export function initialParameters(shapes: readonly LayerShape[], rng: Rng): Float32Array {
  const flat = new Float32Array(parameterCount(shapes));
  if (shapes.length === 1) return flat;
  for (const { inputs, outputs, offset } of shapes) {
    const limit = Math.sqrt(6 / (inputs + outputs));
    for (let i = 0; i < inputs * outputs; i++) flat[offset + i] = rng.uniformRange(-limit, limit);
  }
  return flat;
}

/** A copy of the flat vector as public per-layer parameters. */
export function toMlpParameters(inputs: number, hidden: readonly number[], flat: Float32Array): MlpParameters {
  const layers = layerShapes(inputs, hidden).map(({ inputs: width, outputs, offset }) => ({
    weights: flat.slice(offset, offset + width * outputs),
    bias: flat.slice(offset + width * outputs, offset + (width + 1) * outputs),
  }));
  return { inputs, hidden: [...hidden], layers };
}

/** The flat vector of public parameters, after checking their shapes. */
export function flattenParameters(params: MlpParameters): { shapes: LayerShape[]; flat: Float32Array } {
  if (!Number.isSafeInteger(params.inputs) || params.inputs < 1) {
    throw new InvalidInputError(`params.inputs must be a whole number >= 1; got ${params.inputs}`);
  }
  const shapes = layerShapes(params.inputs, params.hidden);
  if (params.layers.length !== shapes.length) {
    throw new InvalidInputError(
      `params.layers has ${params.layers.length} layers; hidden ${JSON.stringify(params.hidden)} needs ${shapes.length}`,
    );
  }
  const flat = new Float32Array(parameterCount(shapes));
  shapes.forEach(({ inputs, outputs, offset }, l) => {
    const { weights, bias } = params.layers[l];
    if (weights.length !== inputs * outputs || bias.length !== outputs) {
      throw new InvalidInputError(
        `params.layers[${l}] must have ${inputs}×${outputs} weights and ${outputs} biases; got ${weights.length} and ${bias.length}`,
      );
    }
    flat.set(weights, offset);
    flat.set(bias, offset + inputs * outputs);
  });
  return { shapes, flat };
}

/**
 * One layer's tensors, both (in+1)×columns (blockColumns). `forward` is W̃ for z = ã·W̃; a hidden layer's has one
 * more column, all zero but a 1 in the bias row, whose unit is relu(1) = 1: the layer's output is then already
 * ã_{l+1} = [a_{l+1}, 1], with no concatenation. `backward` propagates the layer's error to its input: W̃ with the bias
 * row set to 0, so the previous layer's constant unit gets an error of exactly 0 and adds nothing to norms or gradients.
 */
export interface LayerTensors {
  forward: tf.Tensor2D;
  backward: tf.Tensor2D;
}

/** Columns of a layer's W̃ and Δ: its outputs, plus the constant unit on hidden layers. */
export function blockColumns(shape: LayerShape, last: boolean): number {
  return last ? shape.outputs : shape.outputs + 1;
}

export function uploadLayers(flat: Float32Array, shapes: readonly LayerShape[]): LayerTensors[] {
  return shapes.map((shape, l) => {
    const { inputs, outputs, offset } = shape;
    const last = l === shapes.length - 1;
    const columns = blockColumns(shape, last);
    const block = new Float32Array((inputs + 1) * columns);
    for (let i = 0; i <= inputs; i++) block.set(flat.subarray(offset + i * outputs, offset + (i + 1) * outputs), i * columns);
    if (!last) block[inputs * columns + outputs] = 1;
    const backward = block.slice();
    backward.fill(0, inputs * columns);
    return { forward: tf.tensor2d(block, [inputs + 1, columns]), backward: tf.tensor2d(backward, [inputs + 1, columns]) };
  });
}

export function disposeLayers(layers: readonly LayerTensors[]): void {
  for (const { forward, backward } of layers) tf.dispose([forward, backward]);
}

/**
 * Copies gradient blocks as read from the backend (in+1)×columns (blockColumns) into the flat parameter layout at
 * `into`, dropping the constant unit's column (its error is 0).
 */
export function readBlocks(blocks: readonly Float32Array[], shapes: readonly LayerShape[], into: Float64Array): void {
  shapes.forEach((shape, l) => {
    const { inputs, outputs, offset } = shape;
    const columns = blockColumns(shape, l === shapes.length - 1);
    const block = blocks[l];
    for (let i = 0; i <= inputs; i++) {
      for (let o = 0; o < outputs; o++) into[offset + i * outputs + o] = block[i * columns + o];
    }
  });
}

export interface ForwardPass {
  /** ã_l = [a_l, 1], the input of each layer (ã_0 is the batch itself). */
  inputs: tf.Tensor2D[];
  /** z of the output layer, B×1. */
  logits: tf.Tensor2D;
}

/** `augmentedX` is the batch with a column of ones appended, B×(cols+1). */
export function forward(layers: readonly LayerTensors[], augmentedX: tf.Tensor2D): ForwardPass {
  const inputs = [augmentedX];
  for (let l = 0; l < layers.length - 1; l++) inputs.push(tf.relu(matMul(inputs[l], layers[l].forward)));
  return { inputs, logits: matMul(inputs[inputs.length - 1], layers[layers.length - 1].forward) };
}

/**
 * ∂ℓ_i/∂z_i of the per-example weighted cross-entropy ℓ_i = w_i·(softplus(z_i) − y_i·z_i): w_i·(sigmoid(z_i) − y_i).
 * `labels` and `weights` are B×1.
 */
export function outputDelta(logits: tf.Tensor2D, labels: tf.Tensor2D, weights: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.sub(tf.sigmoid(logits), labels), weights);
}

/**
 * Δ_l of every layer, from the output layer's (B×1); a hidden layer's is B×(out+1), its last column (the constant
 * unit) 0. ReLU' is 1 where a = relu(z) > 0.
 */
export function backward(layers: readonly LayerTensors[], pass: ForwardPass, delta: tf.Tensor2D): tf.Tensor2D[] {
  const deltas = [delta];
  for (let l = layers.length - 1; l > 0; l--) {
    deltas.unshift(reluGradient(matMul(deltas[0], layers[l].backward, false, true), pass.inputs[l]));
  }
  return deltas;
}

/** Σ_i w_i·(softplus(z_i) − y_i·z_i) over the batch, in float64. */
export function weightedLossSum(logits: ArrayLike<number>, labels: ArrayLike<number>, weights: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const z = logits[i];
    const softplus = Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    sum += weights[i] * (softplus - labels[i] * z);
  }
  return sum;
}

const PREDICT_CHUNK = 65536;

/** Sigmoid scores of `rows` rows of x (rows×inputs, row-major). */
export function predictMlp(params: MlpParameters, x: Float32Array | Float64Array, rows: number): Float32Array {
  const { shapes, flat } = flattenParameters(params);
  const cols = params.inputs;
  if (!Number.isSafeInteger(rows) || rows < 0) throw new InvalidInputError(`rows must be a whole number >= 0; got ${rows}`);
  if (x.length !== rows * cols) throw new InvalidInputError(`x has ${x.length} values; rows×inputs = ${rows}×${cols} needs ${rows * cols}`);
  const scores = new Float32Array(rows);
  const layers = uploadLayers(flat, shapes);
  try {
    for (let start = 0; start < rows; start += PREDICT_CHUNK) {
      const end = Math.min(rows, start + PREDICT_CHUNK);
      const chunk = Float32Array.from(x.subarray(start * cols, end * cols));
      const out = tf.tidy(() => {
        const batch = tf.tensor2d(chunk, [end - start, cols]);
        return tf.sigmoid(forward(layers, tf.concat([batch, tf.ones([end - start, 1])], 1)).logits);
      });
      scores.set(out.dataSync(), start);
      out.dispose();
    }
  } finally {
    disposeLayers(layers);
  }
  return scores;
}
