// Scoring without TensorFlow.js's per-call overhead: a bundle's MLP (dense layers, relu … sigmoid) computed in plain
// JavaScript from the loaded model's own weights. A call into TensorFlow.js costs ~0.5 ms however small the input,
// which is the whole latency budget of a single prediction; this pass takes ~3 µs a row. The native backend is
// faster per row, so batches above JS_MAX_ROWS still go to loaded.predict, as does a model of any other shape.
import type { LoadedModel } from '../ml/bundle';
import { tf } from '../ml/tensorflow';
import { applyTransform, transformWidth } from '../ml/transforms';

/** Measured on the 15-32-16-1 MLP: native TensorFlow's fixed ~0.5 ms per call pays off beyond ~250 rows. */
const JS_MAX_ROWS = 256;

/** Scores of raw feature rows (rows × the model's inputs, row-major), as LoadedModel.predict. */
export type ScoreFunction = (featureRows: ArrayLike<number>, rows: number) => Float64Array | Float32Array;

interface DenseLayer {
  fanIn: number;
  units: number;
  /** fanIn × units, row-major (TensorFlow's kernel layout). */
  kernel: Float32Array;
  bias: Float32Array;
  activation: 'relu' | 'sigmoid' | 'linear';
}

const ACTIVATIONS = new Set(['relu', 'sigmoid', 'linear']);

/**
 * The model's dense layers, or undefined when it is not a plain chain of dense layers this pass computes (an EBM has
 * none: its loaded.predict is already a plain-JS table lookup, which scorerFor then uses at every batch size).
 */
function denseLayers(loaded: LoadedModel): DenseLayer[] | undefined {
  if (!loaded.model) return undefined;
  const layers: DenseLayer[] = [];
  let width = transformWidth(loaded.transform);
  for (const layer of loaded.model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const config = layer.getConfig();
    if (layer.getClassName() !== 'Dense' || !ACTIVATIONS.has(String(config.activation)) || config.useBias === false) return undefined;
    const [kernel, bias] = layer.getWeights();
    if (kernel.shape.length !== 2 || kernel.shape[0] !== width) return undefined;
    const units = kernel.shape[1] as number;
    layers.push({
      fanIn: width,
      units,
      kernel: Float32Array.from(kernel.dataSync()),
      bias: Float32Array.from(bias.dataSync()),
      activation: config.activation as DenseLayer['activation'],
    });
    width = units;
  }
  return width === 1 && layers.length > 0 ? layers : undefined;
}

/** The forward pass over transformed inputs: float64 accumulation over the float32 weights. */
function forwardPass(layers: DenseLayer[]): (inputs: Float32Array, rows: number) => Float64Array {
  const inputs = layers[0].fanIn;
  const widest = Math.max(inputs, ...layers.map((l) => l.units));
  const a = new Float64Array(widest);
  const b = new Float64Array(widest);
  return (x, rows) => {
    const scores = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let current = a;
      let next = b;
      for (let j = 0; j < inputs; j++) current[j] = x[r * inputs + j];
      for (const { fanIn, units, kernel, bias, activation } of layers) {
        for (let u = 0; u < units; u++) next[u] = bias[u];
        for (let i = 0; i < fanIn; i++) {
          const x = current[i];
          if (x === 0) continue; // relu zeroes many hidden units
          const row = i * units;
          for (let u = 0; u < units; u++) next[u] += x * kernel[row + u];
        }
        if (activation === 'relu') for (let u = 0; u < units; u++) next[u] = Math.max(next[u], 0);
        else if (activation === 'sigmoid') for (let u = 0; u < units; u++) next[u] = 1 / (1 + Math.exp(-next[u]));
        [current, next] = [next, current];
      }
      scores[r] = current[0];
    }
    return scores;
  };
}

/** The plain-JS scorer of a loaded MLP, or undefined when the model is not a chain of dense layers. */
export function mlpScorer(loaded: LoadedModel): ScoreFunction | undefined {
  const layers = denseLayers(loaded);
  if (!layers) return undefined;
  const forward = forwardPass(layers);
  // applyTransform is the model's own preprocessing (and refuses non-finite results), shared with loaded.predict.
  return (featureRows, rows) => forward(applyTransform(loaded.transform, featureRows, rows), rows);
}

const compiled = new WeakMap<LoadedModel, ScoreFunction>();

/**
 * The fastest scorer of a loaded model (built once per model): plain JS for an MLP's small inputs, loaded.predict
 * for large batches on the native backend and for models of other shapes. Both give the same scores within 1e-6.
 */
export function scorerFor(loaded: LoadedModel): ScoreFunction {
  let score = compiled.get(loaded);
  if (!score) {
    const js = mlpScorer(loaded);
    const nativeTf = tf.getBackend() === 'tensorflow';
    score = js
      ? (featureRows, rows) => (rows <= JS_MAX_ROWS || !nativeTf ? js(featureRows, rows) : loaded.predict(featureRows, rows))
      : (featureRows, rows) => loaded.predict(featureRows, rows);
    compiled.set(loaded, score);
  }
  return score;
}
