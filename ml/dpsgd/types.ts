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
  /**
   * Per row, the 0-based index of its card (privacy unit 'card'): every index in 0 … max is a card with at least
   * one row. Required when `DpOptions.unit` is 'card', ignored otherwise.
   */
  groups?: Int32Array;
}

/** What one neighbouring dataset adds or removes: one row (a transaction) or all the rows of one card. */
export type PrivacyUnit = 'transaction' | 'card';

/**
 * flat: g·min(1, C/‖g‖) (Abadi et al. 2016). automatic: g·C/(‖g‖ + γ), the normalised per-unit gradient of Bu et al.
 * 2023 ("Automatic clipping: differentially private deep learning made easier and stronger") scaled by C: every unit's
 * contribution has norm below C, so the sensitivity, the noise σ·C and the accounting are those of flat clipping; C
 * then acts as a step-size factor rather than a threshold.
 */
export const CLIPPING_MODES = ['flat', 'automatic'] as const;
export type ClippingMode = (typeof CLIPPING_MODES)[number];

/** none: the last iterate; ema: an exponential moving average of the iterates (post-processing, no privacy cost). */
export const AVERAGING_MODES = ['none', 'ema'] as const;
export type AveragingMode = (typeof AVERAGING_MODES)[number];

/** sgd; adam; adam-bc: DP-AdamBC (Tang et al., AAAI 2024), Adam whose second moment has the DP noise variance removed. */
export const OPTIMIZERS = ['sgd', 'adam', 'adam-bc'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

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
  /**
   * transaction (default): Poisson-sample rows, clip each row's gradient. card: user-level DP-SGD (McMahan et al.
   * 2018): Poisson-sample cards, clip each sampled card's summed gradient over its rows, account over cards.
   */
  unit?: PrivacyUnit;
  /** Per-example gradient L2 clipping norm C: the bound of each unit's contribution (both clipping modes). */
  clipNorm: number;
  /** Default 'flat'. */
  clipping?: ClippingMode;
  /** γ of automatic clipping, g·C/(‖g‖ + γ); default 0.01 (Bu et al.'s). Unset with flat clipping. */
  clippingStability?: number;
  /** Target δ of the guarantee; must be below 1/units (rows, or cards with the card unit). */
  delta: number;
  /** Poisson sampling rate q per unit per step, or one rate per class (transaction unit only). */
  samplingRate: number | ClassSamplingRates;
  /**
   * The public normaliser of the noisy sum: the expected number of sampled units per step. Default: q·rows, or
   * Σ_class q_class·(rows of the class) for per-class rates (which reads the private class counts), or q·cards.
   * It also sets the steps: an epoch is units / expectedBatchSize steps.
   */
  expectedBatchSize?: number;
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
  optimizer: OptimizerKind;
  /**
   * adam-bc: γ', the floor of the corrected second moment max(v̂ − (σ·C·inflation/B)², γ'); default 1e-8. Without
   * privacy there is no noise variance to remove and adam-bc is Adam with this floor in place of Adam's ε.
   */
  adamBcFloor?: number;
  /** none (default): the last iterate is the model; ema: the exponential moving average of the iterates. */
  averaging?: AveragingMode;
  /** The EMA's decay β (default 0.99), warmed up as min(β, (1 + t)/(10 + t)) at update t. Unset without averaging ema. */
  emaDecay?: number;
  /** SGD momentum in [0, 1) (PyTorch's form); default 0. */
  momentum?: number;
  /** Multiplies the loss of positive examples; default 1. */
  positiveWeight?: number;
  /**
   * Fixes what is public: the weight initialisation and the non-private batch order. Never the DP noise or the
   * Poisson sample: those always come from fresh secret keys (crypto.randomBytes), so the same seed twice gives two
   * different DP models.
   */
  seed?: number;
  /**
   * TESTS ONLY — makes the DP noise and the Poisson sample a public function of this number, so a run repeats. The
   * noise is then not secret: privacySpent().noise.secret is false, the privacy report says NOT covered, and the
   * model cannot be registered or promoted.
   */
  insecureNoiseSeed?: number;
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
  /** The rate per privacy unit the accountant used: a row's (the largest per-class rate), or a card's. */
  samplingRate: number;
  unit: PrivacyUnit;
  /** Rows or cards in the training data. */
  units: number;
  steps: number;
  clipNorm: number;
  accountant: string;
  /** What was released under DP: DP-SGD's noisy gradient steps (absent: dp-sgd) or DP-EBM's noisy histograms (ml/ebm/). */
  mechanism?: 'dp-sgd' | 'dp-ebm';
  noise: NoiseDescription;
  /** How each unit's gradient was bounded by clipNorm (absent in reports written before the choice existed: flat). */
  clipping?: { mode: ClippingMode; stability?: number };
  /** Which parameters were released: the last iterate or an EMA of the iterates (post-processing of the private ones). */
  averaging?: { mode: AveragingMode; decay?: number };
}

/** How the noise was drawn (ml/dpsgd/noise.ts). */
export interface NoiseDescription {
  /** seeded-test-only: from TrainerOptions.insecureNoiseSeed, replayable by anyone who knows it. */
  method: 'discrete-gaussian' | 'seeded-test-only';
  /** False when the noise can be replayed: the guarantee does not hold. */
  secret: boolean;
  citation: string;
  /** γ, the fixed-point grid step of the noised sum. */
  grid?: number;
  /** (C + γ√d)/C: the sensitivity after rounding to the grid, over the clipping norm (σ applies to C + γ√d). */
  inflation?: number;
}
