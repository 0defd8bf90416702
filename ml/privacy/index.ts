// Differential-privacy accounting for DP-SGD: the Poisson-subsampled Gaussian mechanism composed over T steps.
export { ACCOUNTANTS, type Accountant, type EpsilonOptions, type EpsilonResult, epsilon } from './accountant';
export { type NoiseCalibration, type NoiseCalibrationParams, noiseMultiplierFor } from './calibrate';
export { checkMechanismParams, type MechanismParams, PARAM_RULES, type ParamName } from './params';
export { DEFAULT_VALUE_DISCRETIZATION_INTERVAL, type PldEpsilonParams, pldEpsilon } from './pld';
export {
  composedRdp,
  DEFAULT_RDP_ORDERS,
  OPACUS_RDP_ORDERS,
  type RdpConversion,
  type RdpEpsilonParams,
  rdpEpsilon,
  rdpToEpsilon,
  subsampledGaussianRdp,
} from './rdp';
export {
  buildPrivacyReport,
  GROUP_PRIVACY_CITATION,
  type GroupGuarantee,
  groupPrivacy,
  type InfluenceSummary,
  PREPROCESSING_TREATMENTS,
  PRIVACY_REPORT_FORMAT,
  type PreprocessingStep,
  type PreprocessingTreatment,
  type PrivacyReport,
  type PrivacyReportInput,
  renderPrivacyReport,
} from './report';
