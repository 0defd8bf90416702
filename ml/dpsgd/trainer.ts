// The trainer: each step samples rows (or cards, with all their rows), runs the manual forward/backward pass, and
// updates the parameters with either the clipped (per row or per card; flat or automatic), noised gradient sum over
// the expected number of sampled units (DP-SGD) or the plain mean gradient (non-private); with averaging 'ema' the
// released parameters are the moving average of the iterates.
import { randomInt } from 'node:crypto';
import { InvalidInputError } from '../errors';
import { Rng } from '../random';
import { tf } from '../tensorflow';
import { DEFAULT_EMA_DECAY, updateAverage } from './averaging';
import { type CardIndex, indexCards } from './card-groups';
import { type CheckpointContents, dataFingerprint, decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { CryptoStream } from './csprng';
import {
  cardRowFactors,
  clipFactor,
  type FactorOf,
  flatGradient,
  gradientBlocks,
  normalisingFactor,
  perCardSquaredNormsMaterialised,
  rowClipFactors,
} from './ghost';
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
import { createGridNoise, type GridNoise } from './noise';
import { applyUpdate, DEFAULT_ADAM_BC_FLOOR, initialOptimizerState, scheduledRate, type UpdateSettings } from './optimizer';
import { type DataCounts, epsilonAfter, planTraining, type TrainingPlan } from './plan';
import { type CardSample, CardSampler, PoissonSampler, ShuffledBatches } from './sampling';
import type { DpOptions, MlpParameters, PrivacySpent, TrainerOptions, TrainingData, TrainingProgress } from './types';
import { validateData, validateOptions } from './validate';

const INIT_STREAM = 0x494e;
const YIELD_EVERY_MS = 20;
/** γ of automatic clipping when not given: Bu et al.'s default. */
export const DEFAULT_CLIPPING_STABILITY = 0.01;

/** How each unit's gradient is bounded: C/max(C, ‖g‖) (flat) or C/(‖g‖ + γ) (automatic). */
function clippingFactor(privacy: DpOptions, clipNorm: number): FactorOf {
  if (privacy.clipping === 'automatic') return normalisingFactor(clipNorm, privacy.clippingStability ?? DEFAULT_CLIPPING_STABILITY);
  return clipFactor(clipNorm);
}

export interface RunOptions {
  /** Call onCheckpoint every this many steps (and after the last step). */
  checkpointEvery?: number;
  onCheckpoint?: (bytes: Uint8Array, progress: TrainingProgress) => void;
  /** Aborting stops the run between steps; run() then rejects with the signal's reason and the trainer stays usable. */
  signal?: AbortSignal;
}

export class DpSgdTrainer {
  private readonly shapes: LayerShape[];
  /** Per row: the features, 1 (the bias input), the label and the loss weight; one gather fetches a batch. */
  private readonly table: tf.Tensor2D;
  /** ‖[x, 1]‖² of each row (ghost norms of the first layer), and 0 for the padding row after the last. */
  private readonly inputSquaredNorms: Float64Array;
  private layers: LayerTensors[];
  private readonly sampler: PoissonSampler | CardSampler | ShuffledBatches;
  private readonly noise: GridNoise | null;
  private readonly samplingStream: CryptoStream | null;
  private readonly factor: FactorOf | null;
  private readonly update: Omit<UpdateSettings, 'learningRate'>;
  private disposed = false;

  private constructor(
    private readonly data: TrainingData,
    private readonly options: TrainerOptions,
    private readonly plan: TrainingPlan,
    private readonly state: CheckpointContents,
    cardIndex: CardIndex | null,
  ) {
    this.shapes = layerShapes(data.cols, options.hidden);
    // Noise and sampling always draw from fresh secret keys; options.seed fixes only public things (init, batch
    // order). insecureNoiseSeed is for tests, and marks the noise as not secret.
    const seed = options.insecureNoiseSeed;
    const streams = state.streams;
    if (plan.privacy) {
      this.samplingStream = new CryptoStream(seed, 'sampling', streams?.sampling ?? 0);
      const { noiseMultiplier, clipNorm } = plan.privacy;
      const key = { seed, position: streams?.noise ?? 0 };
      this.noise = createGridNoise(noiseMultiplier, clipNorm, state.params.length, key, plan.totalSteps - state.step);
      this.factor = clippingFactor(options.privacy as DpOptions, clipNorm);
      this.sampler = cardIndex
        ? new CardSampler(cardIndex, plan.privacy.samplingRate, this.samplingStream)
        : new PoissonSampler(data.y, plan.privacy.rates, this.samplingStream);
    } else {
      this.samplingStream = null;
      this.noise = null;
      this.factor = null;
      this.sampler = new ShuffledBatches(data.rows, (options.privacy as { batchSize: number }).batchSize, state.batchSeed);
    }
    this.update = {
      kind: options.optimizer,
      momentum: options.momentum ?? 0,
      noiseVariance: this.noise && plan.privacy ? noiseVariance(this.noise, plan.privacy.expectedBatchSize) : 0,
      floor: options.adamBcFloor ?? DEFAULT_ADAM_BC_FLOOR,
    };
    this.table = uploadTable(data, options.positiveWeight ?? 1);
    this.inputSquaredNorms = plan.privacy ? rowSquaredNorms(data) : new Float64Array(0);
    this.layers = uploadLayers(state.params, this.shapes);
  }

  /** Validates data and options, plans the run (calibrating σ to a target ε if asked) and initialises the MLP. */
  static create(data: TrainingData, options: TrainerOptions): DpSgdTrainer {
    const { counts, cardIndex } = checkData(data, options);
    const plan = planTraining(options, counts);
    const batchSeed = options.seed ?? randomInt(2 ** 47);
    const shapes = layerShapes(data.cols, options.hidden);
    const params = initialParameters(shapes, new Rng([batchSeed, INIT_STREAM]));
    const state: CheckpointContents = {
      options: structuredClone(options),
      noiseMultiplier: plan.privacy?.noiseMultiplier ?? null,
      step: 0,
      data: { rows: data.rows, cols: data.cols, fingerprint: dataFingerprint(data) },
      streams: options.insecureNoiseSeed === undefined ? null : { sampling: 0, noise: 0 },
      batchSeed,
      params,
      optimizer: initialOptimizerState(options.optimizer, params.length, options.momentum ?? 0),
      average: options.averaging === 'ema' ? Float64Array.from(params) : new Float64Array(0),
    };
    return new DpSgdTrainer(data, state.options, plan, state, cardIndex);
  }

  /** Continues from checkpoint() bytes on the same data (checked by fingerprint); steps count on from the checkpoint's. */
  static resume(checkpoint: Uint8Array, data: TrainingData): DpSgdTrainer {
    const state = decodeCheckpoint(checkpoint);
    const fingerprint = dataFingerprint(data);
    if (fingerprint !== state.data.fingerprint) {
      throw new InvalidInputError(
        `data (${data.rows}×${data.cols}) is not the data the checkpoint was trained on (${state.data.rows}×${state.data.cols}, sha256 ${state.data.fingerprint.slice(0, 12)}…)`,
      );
    }
    const { counts, cardIndex } = checkData(data, state.options);
    const plan = planTraining(state.options, counts, state.noiseMultiplier ?? undefined);
    return new DpSgdTrainer(data, state.options, plan, state, cardIndex);
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
    const sample = this.sampler instanceof ShuffledBatches ? this.sampler.batch(this.state.step) : this.sampler.next();
    const rows = sample instanceof Int32Array ? sample : sample.rows;
    const { gradient, logits } = this.gradientSum(rows, sample instanceof Int32Array ? null : sample);
    const privacy = this.plan.privacy;
    if (privacy) (this.noise as GridNoise).perturb(gradient); // on the grid: see noise.ts for the sensitivity
    const divisor = privacy ? privacy.expectedBatchSize : rows.length;
    for (let j = 0; j < gradient.length; j++) gradient[j] /= divisor;

    const { learningRate, learningRateDecay, emaDecay } = this.options;
    const rate = scheduledRate(learningRate, learningRateDecay ?? 'none', this.state.step, this.plan.totalSteps);
    applyUpdate({ ...this.update, learningRate: rate }, this.state.optimizer, this.state.params, gradient);
    if (this.state.average.length) updateAverage(this.state.average, this.state.params, emaDecay ?? DEFAULT_EMA_DECAY, this.state.step + 1);
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

  /** The released parameters: the last iterate, or with averaging 'ema' the moving average of the iterates. */
  parameters(): MlpParameters {
    const { average, params } = this.state;
    return toMlpParameters(this.data.cols, this.options.hidden, average.length ? Float32Array.from(average) : params);
  }

  /** ε at δ for the steps taken so far (all runs), by the configured accountant; null when not private. */
  privacySpent(): PrivacySpent | null {
    const privacy = this.plan.privacy;
    if (!privacy) return null;
    return {
      epsilon: epsilonAfter(privacy, this.state.step),
      delta: privacy.delta,
      noiseMultiplier: privacy.noiseMultiplier,
      samplingRate: privacy.samplingRate,
      unit: privacy.unit,
      units: privacy.units,
      steps: this.state.step,
      clipNorm: privacy.clipNorm,
      accountant: privacy.accountant,
      noise: (this.noise as GridNoise).description,
      clipping: clippingOf(this.options.privacy as DpOptions),
      averaging: averagingOf(this.options),
    };
  }

  /** The whole state as bytes (see checkpoint.ts); secret stream keys are left out on purpose. */
  checkpoint(): Uint8Array {
    const streams = this.state.streams && { sampling: this.samplingStream?.position ?? 0, noise: this.noise?.position ?? 0 };
    return encodeCheckpoint({ ...this.state, streams });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeLayers(this.layers);
    this.table.dispose();
    this.noise?.dispose(); // stops a noise worker thread
  }

  /**
   * Σ_i c_i·g_i (c = 1 when not private) in the flat layout, and the batch's logits. Per card (a card sample given),
   * c_i is the factor of row i's card, min(1, C/‖Σ_{j∈card} g_j‖), so Σ_i c_i·g_i is the sum of the clipped card sums.
   */
  private gradientSum(rows: Int32Array, cards: CardSample | null): { gradient: Float64Array; logits: Float32Array } {
    const cols = this.data.cols;
    // A card sample keeps at least one padding row: the padding entries of the per-card norms point at it.
    const padded = padBatch(rows, this.data.rows, cards ? 1 : 0);
    const outputs = tf.tidy(() => {
      const batch = tf.gather<tf.Tensor2D>(this.table, tf.tensor1d(padded, 'int32'));
      const [augmentedX, labels, weights] = tf.split<tf.Tensor2D>(batch, [cols + 1, 1, 1], 1);
      const pass = forward(this.layers, augmentedX);
      const deltas = backward(this.layers, pass, outputDelta(pass.logits, labels, weights));
      const factors = this.factor && tf.tensor2d(this.rowFactors(pass.inputs, deltas, padded, cards), [padded.length, 1]);
      return [pass.logits, ...gradientBlocks(pass.inputs, deltas, factors)];
    });
    const gradient = flatGradient(outputs.slice(1), this.shapes, this.state.params.length);
    const logits = (outputs[0].dataSync() as Float32Array).subarray(0, rows.length);
    tf.dispose(outputs);
    return { gradient, logits };
  }

  /**
   * c_i of each batch row (float32, never rounded up): per row from its ghost norm, or per card from the card's
   * materialised norm. The norms are read once (B×(2L−1) or K numbers) and the factors computed here in float64.
   */
  private rowFactors(inputs: tf.Tensor2D[], deltas: tf.Tensor2D[], padded: Int32Array, cards: CardSample | null): Float32Array {
    const factor = this.factor as FactorOf;
    if (cards) return cardRowFactors(perCardClipNorms(inputs, deltas, cards).dataSync(), cards.cardOf, padded.length, factor);
    return rowClipFactors(
      inputs,
      deltas,
      Float64Array.from(padded, (row) => this.inputSquaredNorms[row]),
      factor,
    );
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
 * n rounded up to a multiple of an eighth of its power of two (≤ 12.5% more, at least 16). Poisson batch sizes vary
 * from step to step, and every new shape costs the native backend (oneDNN) a new kernel; padded, a run sees a handful.
 */
function paddedLength(n: number): number {
  const granularity = 2 ** Math.max(4, Math.floor(Math.log2(Math.max(1, n))) - 3);
  return Math.max(granularity, Math.ceil(n / granularity) * granularity);
}

/**
 * The batch's rows followed by copies of the padding row (index `padRow`) up to paddedLength(rows + spare). The
 * padding row's loss weight is 0, so its error Δ, its gradient and its norm are exactly 0 and it changes nothing.
 */
function padBatch(rows: Int32Array, padRow: number, spare: number): Int32Array {
  const padded = new Int32Array(paddedLength(rows.length + spare)).fill(padRow);
  padded.set(rows);
  return padded;
}

/**
 * ‖G_k‖² of each sampled card's summed gradient (K×1, K padded so shapes repeat; the padding cards' norms are 0).
 * Each sampled card's gradient is materialised by one batched product per layer: on the default data 26–29 ms a
 * step, against 145–155 ms by the ghost-norm identity over same-card pairs, and with shorter float32 sums.
 */
function perCardClipNorms(inputs: tf.Tensor2D[], deltas: tf.Tensor2D[], sample: CardSample): tf.Tensor2D {
  const cards = paddedLength(sample.cards);
  const { layout, length } = cardLayout(sample, cards);
  return perCardSquaredNormsMaterialised(inputs, deltas, tf.tensor1d(layout, 'int32'), cards, length);
}

/** Card k's batch rows at k·L …, the rest of the K×L layout on the padding row (batch row `sample.rows.length`). */
function cardLayout(sample: CardSample, cards: number): { layout: Int32Array; length: number } {
  const sizes = new Int32Array(cards);
  for (const k of sample.cardOf) sizes[k]++;
  const length = paddedLength(Math.max(...sizes));
  const layout = new Int32Array(cards * length).fill(sample.rows.length);
  const filled = new Int32Array(cards);
  sample.cardOf.forEach((k, b) => {
    layout[k * length + filled[k]++] = b;
  });
  return { layout, length };
}

/**
 * The per-coordinate variance of the noise in the averaged gradient: the grid noise has std t·γ (t grid units of γ,
 * t·γ = σ·(C + γ√d)) on the sum, divided by the normaliser B. What adam-bc subtracts from its second moment (the
 * rounding to the grid adds at most (γ/2)², under 2⁻²⁶ of it, left in).
 */
function noiseVariance(noise: GridNoise, expectedBatchSize: number): number {
  return ((noise.grid.sigma * noise.grid.step) / expectedBatchSize) ** 2;
}

function clippingOf(privacy: DpOptions): NonNullable<PrivacySpent['clipping']> {
  if (privacy.clipping !== 'automatic') return { mode: 'flat' };
  return { mode: 'automatic', stability: privacy.clippingStability ?? DEFAULT_CLIPPING_STABILITY };
}

function averagingOf(options: TrainerOptions): NonNullable<PrivacySpent['averaging']> {
  if (options.averaging !== 'ema') return { mode: 'none' };
  return { mode: 'ema', decay: options.emaDecay ?? DEFAULT_EMA_DECAY };
}

/** Validates data and options; the counts the plan reads, and the rows by card for the card unit. */
function checkData(data: TrainingData, options: TrainerOptions): { counts: DataCounts; cardIndex: CardIndex | null } {
  const positives = validateData(data);
  const privacy = options.privacy;
  const cardIndex = privacy.mode === 'dp' && privacy.unit === 'card' ? indexCards(data.groups, data.rows) : null;
  validateOptions(options, data.rows, cardIndex?.cards);
  return { counts: { rows: data.rows, positives, cards: cardIndex?.cards }, cardIndex };
}

/** Rows [x, 1, y, w]; row `rows` (one past the data) is the all-zero padding row, whose loss weight is 0. */
function uploadTable(data: TrainingData, positiveWeight: number): tf.Tensor2D {
  const { rows, cols } = data;
  const width = cols + 3;
  const table = new Float32Array((rows + 1) * width);
  for (let r = 0; r < rows; r++) {
    table.set(data.x.subarray(r * cols, (r + 1) * cols), r * width);
    table.set([1, data.y[r], data.y[r] ? positiveWeight : 1], r * width + cols);
  }
  return tf.tensor2d(table, [rows + 1, width]);
}

/** ‖[x, 1]‖² of each row, in float64 from the float32 features, and 0 for the padding row. */
function rowSquaredNorms(data: TrainingData): Float64Array {
  const { rows, cols, x } = data;
  const norms = new Float64Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    let sum = 1;
    for (let j = r * cols; j < (r + 1) * cols; j++) sum += x[j] * x[j];
    norms[r] = sum;
  }
  return norms;
}
