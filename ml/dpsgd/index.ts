// DP-SGD for an MLP on TensorFlow.js (DESIGN §6): ghost-norm per-example clipping, Poisson sampling, float64
// Gaussian noise from a CSPRNG, σ calibrated to a target (ε, δ); a non-private mode; checkpoint / resume as bytes.
export { predictMlp } from './mlp';
export { DpSgdTrainer, type RunOptions } from './trainer';
export type {
  ClassSamplingRates,
  DpOptions,
  MlpParameters,
  NonPrivateOptions,
  PrivacySpent,
  TrainerOptions,
  TrainingData,
  TrainingProgress,
} from './types';
