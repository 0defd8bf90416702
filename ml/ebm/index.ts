// DP explainable boosting machines: public bins, cyclic noisy boosting, exact Gaussian accounting.
export { composedMu, gaussianDelta, gdpEpsilon, gdpMuFor } from './accounting';
export { type BinCuts, publicBinCuts } from './bins';
export {
  EBM_DEFAULTS,
  type EbmFamilyOptions,
  type EbmSettings,
  ebmSettingsOf,
  plannedEbmMechanism,
  type TrainedEbm,
  trainEbmFamily,
} from './family';
export { binRows, EBM_FORMAT, type EbmModel, type EbmTerm, parseEbmModel, predictEbm } from './model';
export {
  cardWeights,
  EBM_ACCOUNTANT,
  type EbmData,
  type EbmDpOptions,
  type EbmNoisePlan,
  type EbmOptions,
  type EbmResult,
  ebmReleases,
  planEbmNoise,
  trainEbm,
} from './train';
