// The trainer: each step samples rows, runs the manual forward/backward pass, and updates the parameters with either
// the clipped, noised gradient sum over the expected batch size (DP-SGD) or the plain mean gradient (non-private).
import { randomInt } from 'node:crypto';
import { InvalidInputError } from '../errors';
import { Rng } from '../random';
import { tf } from '../tensorflow';
import { type CheckpointContents, dataFingerprint, decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { CryptoStream } from './csprng';
import { clipFactors, gradientSum, perExampleSquaredNorms } from './ghost';
import {
  backward,
  disposeLayers,
  forward,
  initialParameters,
  type LayerShape,
  type LayerTensors,
  layerShapes,
  outputDelta,
  toMlpParameters,
  uploadLayers,
  weightedLossSum,
} from './mlp';
import { addGaussianNoise } from './noise';
import { applyUpdate, initialOptimizerState, scheduledRate } from './optimizer';
import { epsilonAfter, planTraining, type TrainingPlan } from './plan';
import { PoissonSampler, ShuffledBatches } from './sampling';
import type { MlpParameters, PrivacySpent, TrainerOptions, TrainingData, TrainingProgress } from './types';
import { validateData, validateOptions } from './validate';

const INIT_STREAM = 0x494e;
const YIELD_EVERY_MS = 20;

export interface RunOptions {
  /** Call onCheckpoint every this many steps (and after the last step). */
  checkpointEvery?: number;
  onCheckpoint?: (bytes: Uint8Array, progress: TrainingProgress) => void;
  /** Aborting stops the run between steps; run() then rejects with the signal's reason and the trainer stays usable. */
  signal?: AbortSignal;
}

export class DpSgdTrainer {
  private readonly shapes: LayerShape[];
  /** Per row: the features, 1 (the bias input), the label, the loss weight and ‖[x, 1]‖²; one gather fetches a batch. */
  private readonly table: tf.Tensor2D;
  private layers: LayerTensors[];
  private readonly sampler: PoissonSampler | ShuffledBatches;
  private readonly noise: CryptoStream | null;
  private readonly samplingStream: CryptoStream | null;
  private disposed = false;

  private constructor(
    private readonly data: TrainingData,
    private readonly options: TrainerOptions,
    private readonly plan: TrainingPlan,
    private readonly state: CheckpointContents,
  ) {
    this.shapes = layerShapes(data.cols, options.hidden);
    const seed = options.seed;
    const streams = state.streams;
    if (plan.privacy) {
      this.samplingStream = new CryptoStream(seed, 'sampling', streams?.sampling ?? 0);
      this.noise = new CryptoStream(seed, 'noise', streams?.noise ?? 0);
      this.sampler = new PoissonSampler(data.y, plan.privacy.rates, this.samplingStream);
    } else {
      this.samplingStream = null;
      this.noise = null;
      this.sampler = new ShuffledBatches(data.rows, (options.privacy as { batchSize: number }).batchSize, state.batchSeed);
    }
    this.table = uploadTable(data, options.positiveWeight ?? 1);
    this.layers = uploadLayers(state.params, this.shapes);
  }

  /** Validates data and options, plans the run (calibrating σ to a target ε if asked) and initialises the MLP. */
  static create(data: TrainingData, options: TrainerOptions): DpSgdTrainer {
    const positives = validateData(data);
    validateOptions(options, data.rows);
    const plan = planTraining(options, data.rows, positives);
    const batchSeed = options.seed ?? randomInt(2 ** 47);
    const shapes = layerShapes(data.cols, options.hidden);
    const params = initialParameters(shapes, new Rng([batchSeed, INIT_STREAM]));
    const state: CheckpointContents = {
      options: structuredClone(options),
      noiseMultiplier: plan.privacy?.noiseMultiplier ?? null,
      step: 0,
      data: { rows: data.rows, cols: data.cols, fingerprint: dataFingerprint(data) },
      streams: options.seed === undefined ? null : { sampling: 0, noise: 0 },
      batchSeed,
      params,
      optimizer: initialOptimizerState(options.optimizer, params.length, options.momentum ?? 0),
    };
    return new DpSgdTrainer(data, state.options, plan, state);
  }

  /** Continues from checkpoint() bytes on the same data (checked by fingerprint); steps count on from the checkpoint's. */
  static resume(checkpoint: Uint8Array, data: TrainingData): DpSgdTrainer {
    const state = decodeCheckpoint(checkpoint);
    const positives = validateData(data);
    const fingerprint = dataFingerprint(data);
    if (fingerprint !== state.data.fingerprint) {
      throw new InvalidInputError(
        `data (${data.rows}×${data.cols}) is not the data the checkpoint was trained on (${state.data.rows}×${state.data.cols}, sha256 ${state.data.fingerprint.slice(0, 12)}…)`,
      );
    }
    validateOptions(state.options, data.rows);
    const plan = planTraining(state.options, data.rows, positives, state.noiseMultiplier ?? undefined);
    return new DpSgdTrainer(data, state.options, plan, state);
  }

  /** Steps taken so far, over all resumes. */
  get stepsTaken(): number {
    return this.state.step;
  }

  get totalSteps(): number {
    return this.plan.totalSteps;
  }

  get done(): boolean {
    return this.state.step >= this.plan.totalSteps;
  }

  /** One update; throws once the planned steps are done. */
  step(): TrainingProgress {
    if (this.disposed) throw new Error('DpSgdTrainer.step: the trainer is disposed');
    if (this.done) throw new Error(`DpSgdTrainer.step: all ${this.plan.totalSteps} steps are done`);
    const rows = this.sampler instanceof PoissonSampler ? this.sampler.next() : this.sampler.batch(this.state.step);
    const { gradient, logits } = this.gradientSum(rows);
    const privacy = this.plan.privacy;
    if (privacy) addGaussianNoise(gradient, privacy.noiseMultiplier * privacy.clipNorm, this.noise as CryptoStream);
    const divisor = privacy ? privacy.expectedBatchSize : rows.length;
    for (let j = 0; j < gradient.length; j++) gradient[j] /= divisor;

    const { optimizer, learningRate, learningRateDecay, momentum } = this.options;
    const rate = scheduledRate(learningRate, learningRateDecay ?? 'none', this.state.step, this.plan.totalSteps);
    applyUpdate(optimizer, rate, momentum ?? 0, this.state.optimizer, this.state.params, gradient);
    disposeLayers(this.layers);
    this.layers = uploadLayers(this.state.params, this.shapes);
    this.state.step++;
    return this.progress(this.batchLoss(rows, logits));
  }

  /** Runs the remaining steps; yields to the event loop every ~20 ms so an abort signal or timers can fire. */
  async run(onProgress?: (progress: TrainingProgress) => void, runOptions: RunOptions = {}): Promise<MlpParameters> {
    const { checkpointEvery, onCheckpoint, signal } = runOptions;
    if (checkpointEvery !== undefined && !(Number.isSafeInteger(checkpointEvery) && checkpointEvery >= 1)) {
      throw new InvalidInputError(`checkpointEvery must be a whole number >= 1; got ${checkpointEvery}`);
    }
    let lastYield = performance.now();
    while (!this.done) {
      signal?.throwIfAborted();
      const progress = this.step();
      onProgress?.(progress);
      if (onCheckpoint && checkpointEvery && (progress.step % checkpointEvery === 0 || this.done))
        onCheckpoint(this.checkpoint(), progress);
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    return this.parameters();
  }

  parameters(): MlpParameters {
    return toMlpParameters(this.data.cols, this.options.hidden, this.state.params);
  }

  /** ε at δ for the steps taken so far (all runs), by the configured accountant; null when not private. */
  privacySpent(): PrivacySpent | null {
    const privacy = this.plan.privacy;
    if (!privacy) return null;
    return {
      epsilon: epsilonAfter(privacy, this.state.step),
      delta: privacy.delta,
      noiseMultiplier: privacy.noiseMultiplier,
      samplingRate: privacy.accountingRate,
      steps: this.state.step,
      clipNorm: privacy.clipNorm,
      accountant: privacy.accountant,
    };
  }

  /** The whole state as bytes (see checkpoint.ts); an unseeded run's stream keys are left out on purpose. */
  checkpoint(): Uint8Array {
    const streams = this.state.streams && { sampling: this.samplingStream?.position ?? 0, noise: this.noise?.position ?? 0 };
    return encodeCheckpoint({ ...this.state, streams });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeLayers(this.layers);
    this.table.dispose();
  }

  /** Σ_i c_i·g_i (c = 1 when not private) in the flat layout, and the batch's logits. */
  private gradientSum(rows: Int32Array): { gradient: Float64Array; logits: Float32Array } {
    const clipNorm = this.plan.privacy?.clipNorm;
    const cols = this.data.cols;
    const outputs = tf.tidy(() => {
      const batch = tf.gather<tf.Tensor2D>(this.table, tf.tensor1d(padBatch(rows, this.data.rows), 'int32'));
      const [augmentedX, labels, weights, inputNorms] = tf.split<tf.Tensor2D>(batch, [cols + 1, 1, 1, 1], 1);
      const pass = forward(this.layers, augmentedX);
      const deltas = backward(this.layers, pass, outputDelta(pass.logits, labels, weights));
      const factors = clipNorm === undefined ? null : clipFactors(perExampleSquaredNorms(pass.inputs, deltas, inputNorms), clipNorm);
      return [pass.logits, ...gradientSum(pass.inputs, deltas, factors)];
    });
    const gradient = new Float64Array(this.state.params.length);
    for (const [l, { offset }] of this.shapes.entries()) gradient.set(outputs[l + 1].dataSync(), offset);
    const logits = (outputs[0].dataSync() as Float32Array).subarray(0, rows.length);
    tf.dispose(outputs);
    return { gradient, logits };
  }

  private batchLoss(rows: Int32Array, logits: Float32Array): number {
    const positiveWeight = this.options.positiveWeight ?? 1;
    const labels = new Float64Array(rows.length);
    const weights = new Float64Array(rows.length);
    rows.forEach((row, i) => {
      labels[i] = this.data.y[row];
      weights[i] = this.data.y[row] ? positiveWeight : 1;
    });
    return weightedLossSum(logits, labels, weights) / rows.length;
  }

  private progress(loss: number): TrainingProgress {
    const step = this.state.step;
    const { totalSteps, privacy } = this.plan;
    let epsilon: number | undefined;
    return {
      epoch: Math.floor(((step - 1) * this.options.epochs) / totalSteps) + 1,
      step,
      totalSteps,
      loss,
      // A getter, so the accountant (PLD: ~0.1–1 s) runs only for progress reports somebody reads.
      get epsilonSpent() {
        if (!privacy) return null;
        epsilon ??= epsilonAfter(privacy, step);
        return epsilon;
      },
    };
  }
}

/**
 * The batch's rows followed by copies of the padding row (index `padRow`), up to a multiple of an eighth of the
 * batch's power of two (≤ 12.5% extra rows). Poisson batch sizes vary from step to step, and every new shape costs
 * the native backend (oneDNN) a new kernel; with padding a run sees a handful of shapes. The padding row's loss
 * weight is 0, so its error Δ, its gradient and its norm are exactly 0 and it changes nothing.
 */
function padBatch(rows: Int32Array, padRow: number): Int32Array {
  const granularity = 2 ** Math.max(4, Math.floor(Math.log2(Math.max(1, rows.length))) - 3);
  const padded = new Int32Array(Math.max(granularity, Math.ceil(rows.length / granularity) * granularity)).fill(padRow);
  padded.set(rows);
  return padded;
}

/** Rows [x, 1, y, w, ‖[x, 1]‖²]; row `rows` (one past the data) is the all-zero padding row, whose loss weight is 0. */
function uploadTable(data: TrainingData, positiveWeight: number): tf.Tensor2D {
  const { rows, cols } = data;
  const width = cols + 4;
  const table = new Float32Array((rows + 1) * width);
  for (let r = 0; r < rows; r++) {
    const features = data.x.subarray(r * cols, (r + 1) * cols);
    table.set(features, r * width);
    table.set([1, data.y[r], data.y[r] ? positiveWeight : 1, features.reduce((sum, v) => sum + v * v, 1)], r * width + cols);
  }
  return tf.tensor2d(table, [rows + 1, width]);
}
