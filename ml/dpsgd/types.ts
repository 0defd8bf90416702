// The public shapes of the DP-SGD trainer: model parameters, training data, options and progress reports.
import type { Accountant } from '../privacy';

/** A trained MLP: `hidden` widths between `inputs` features and one sigmoid output; ReLU on hidden layers. */
export interface MlpParameters {
  inputs: number;
  hidden: number[];
  /** One entry per dense layer (hidden.length + 1): weights in×out row-major, bias of length out. */
  layers: Array<{ weights: Float32Array; bias: Float32Array }>;
}

/** Features (rows×cols row-major) and 0/1 labels. */
export interface TrainingData {
  x: Float32Array;
  y: Uint8Array;
  rows: number;
  cols: number;
}

/** Per-class Poisson sampling rates (class-stratified sampling). */
export interface ClassSamplingRates {
  positive: number;
  negative: number;
}

export interface NonPrivateOptions {
  mode: 'off';
  /** Mini-batch size; batches are a seeded shuffle of the data, every epoch. */
  batchSize: number;
}

export interface DpOptions {
  mode: 'dp';
  /** Per-example gradient L2 clipping norm C. */
  clipNorm: number;
  /** Target δ of the guarantee; must be below 1/rows. */
  delta: number;
  /** Poisson sampling rate q per step, or one rate per class. */
  samplingRate: number | ClassSamplingRates;
  /** Noise multiplier σ (noise std = σ·C); give this or targetEpsilon, not both. */
  noiseMultiplier?: number;
  /** Calibrate σ so that ε at δ after all planned steps is at most this. */
  targetEpsilon?: number;
  /** Default 'rdp'. */
  accountant?: Accountant;
}

export interface TrainerOptions {
  hidden: number[];
  epochs: number;
  learningRate: number;
  /** none (default): constant; cosine: decays from learningRate to 0 over the planned steps. */
  learningRateDecay?: 'none' | 'cosine';
  optimizer: 'sgd' | 'adam';
  /** SGD momentum in [0, 1) (PyTorch's form); default 0. */
  momentum?: number;
  /** Multiplies the loss of positive examples; default 1. */
  positiveWeight?: number;
  /**
   * Makes the run repeatable: weight init, batches, Poisson sampling and the noise all follow from it.
   * The DP noise is then a function of the seed, so a seeded run is only private while the seed stays secret.
   */
  seed?: number;
  privacy: NonPrivateOptions | DpOptions;
}

export interface TrainingProgress {
  /** 1-based epoch the step belongs to. */
  epoch: number;
  /** Steps taken so far (over all resumes). */
  step: number;
  totalSteps: number;
  /** Mean weighted cross-entropy of this step's batch (a diagnostic: not privatised); NaN for an empty batch. */
  loss: number;
  /** ε at δ after `step` steps; null when training is not private. Computed when first read (PLD takes ~0.1–1 s). */
  epsilonSpent: number | null;
}

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  noiseMultiplier: number;
  /** The rate the accountant used: q, or the largest per-class rate. */
  samplingRate: number;
  steps: number;
  clipNorm: number;
  accountant: string;
}
