// DP-SGD for an MLP on TensorFlow.js (DESIGN §6): ghost-norm per-example clipping (flat or automatic), Poisson
// sampling, float64 Gaussian noise from a CSPRNG, σ calibrated to a target (ε, δ); SGD, Adam or DP-AdamBC; iterate
// averaging; a non-private mode; checkpoint / resume as bytes.

export { DEFAULT_EMA_DECAY } from './averaging';
export { predictMlp } from './mlp';
export { DEFAULT_CLIPPING_STABILITY, DpSgdTrainer, type RunOptions } from './trainer';
export type {
  AveragingMode,
  ClassSamplingRates,
  ClippingMode,
  DpOptions,
  MlpParameters,
  NonPrivateOptions,
  OptimizerKind,
  PrivacySpent,
  TrainerOptions,
  TrainingData,
  TrainingProgress,
} from './types';
export { AVERAGING_MODES, CLIPPING_MODES, OPTIMIZERS } from './types';
