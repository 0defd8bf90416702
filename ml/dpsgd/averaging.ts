// Iterate averaging: an exponential moving average of the parameters after each update (De et al. 2022, "Unlocking
// high-accuracy differentially private image classification through scale"). It reads only the iterates, which DP-SGD
// already releases to the accountant's satisfaction, so the average is post-processing and costs no privacy.

export const DEFAULT_EMA_DECAY = 0.99;

/**
 * The decay at update t (1-based), warmed up as TensorFlow's ExponentialMovingAverage with num_updates does:
 * min(β, (1 + t)/(10 + t)), so the initial weights fade within a few steps instead of β^T of the run.
 */
export function emaDecayAt(decay: number, update: number): number {
  return Math.min(decay, (1 + update) / (10 + update));
}

/** average ← d·average + (1 − d)·params, in place, d the warmed-up decay at `update`. */
export function updateAverage(average: Float64Array, params: Float32Array, decay: number, update: number): void {
  const d = emaDecayAt(decay, update);
  for (let j = 0; j < average.length; j++) average[j] = d * average[j] + (1 - d) * params[j];
}
