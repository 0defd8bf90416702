// The EBM as a model family of the experiment (ml/experiment.ts trainFamily): its settings, their defaults, and
// training on the transformed examples with public bins from the feature set's bounds.
import type { PrivacySpent, PrivacyUnit } from '../dpsgd/types';
import { InvalidInputError } from '../errors';
import type { FeatureSet } from '../feature-set';
import type { TransformSpec } from '../transforms';
import { publicBinCuts } from './bins';
import { type EbmModel, predictEbm } from './model';
import { ebmReleases, trainEbm } from './train';

export interface EbmSettings {
  rounds: number;
  learningRate: number;
  /** Most bins per input (public cuts, publicBinCuts). */
  bins: number;
  /** Leaves per input per round (random contiguous groups of bins, DP-EBM's random splits). */
  maxLeaves: number;
  /** Card unit: the cap C on a card's total weight in one histogram (rows of a card with n > C rows weigh C/n). */
  cardCap: number;
}

/**
 * Chosen on the validation days of the default simulated data (handbook protocol, one noise draw per setting, seed 0):
 * without DP many small steps; under DP few rounds, since every round costs privacy (σ grows as √rounds).
 */
export const EBM_DEFAULTS: Readonly<Record<'private' | 'nonPrivate', EbmSettings>> = Object.freeze({
  private: { rounds: 10, learningRate: 0.3, bins: 32, maxLeaves: 3, cardCap: 10 },
  nonPrivate: { rounds: 300, learningRate: 0.1, bins: 32, maxLeaves: 3, cardCap: 10 },
});

/** A run's settings: the defaults of its privacy mode, then its overrides. */
export const ebmSettingsOf = (dp: boolean, overrides: Partial<EbmSettings> = {}): EbmSettings => ({
  ...EBM_DEFAULTS[dp ? 'private' : 'nonPrivate'],
  ...overrides,
});

export interface EbmFamilyInput {
  x: Float32Array;
  y: Uint8Array;
  rows: number;
  groups?: Int32Array;
  transform: TransformSpec;
}

export interface EbmFamilyOptions {
  dp: boolean;
  privacyUnit?: PrivacyUnit;
  targetEpsilon: number;
  /** The equivalent σ over all releases reserved by the privacy ledger; replaces the calibration to targetEpsilon. */
  noiseMultiplier?: number;
  delta: number;
  /** The public base rate (intercept and step scale). */
  baseRate: number;
  seed: number;
  ebm?: Partial<EbmSettings>;
  /** Called after each boosting round (1 … rounds). */
  onRound?: (round: number) => void;
  /** TESTS ONLY (EbmDpOptions.insecureNoiseSeed): the noise follows from this public number; the guarantee does not hold. */
  insecureNoiseSeed?: number;
}

/**
 * The mechanism a DP run composes, known before training (the privacy ledger reserves it): `releases` plain Gaussian
 * releases of the equivalent σ on the whole data, i.e. sampling rate 1 (ml/ebm/accounting.ts). Null without DP.
 */
export function plannedEbmMechanism(
  options: Pick<EbmFamilyOptions, 'dp' | 'ebm'>,
  inputs: number,
): { samplingRate: 1; steps: number } | null {
  if (!options.dp) return null;
  return { samplingRate: 1, steps: ebmReleases(inputs, ebmSettingsOf(true, options.ebm).rounds) };
}

export interface TrainedEbm {
  parameters: EbmModel;
  spent: PrivacySpent | null;
  scoreTransformed: (x: Float32Array | Float64Array, rows: number) => Float32Array;
  /** For the privacy report: what the guarantee of this family rests on. */
  assumptions: string[];
}

/** Trains the EBM family: public bins from the feature set's bounds through the run's transform. */
export function trainEbmFamily(input: EbmFamilyInput, set: FeatureSet, options: EbmFamilyOptions): TrainedEbm {
  if (options.dp && input.transform.kind !== 'fixed')
    throw new InvalidInputError('transform: DP-EBM needs the data-independent fixed transform (its bins are public)');
  const s = ebmSettingsOf(options.dp, options.ebm);
  const unit = options.privacyUnit ?? 'transaction';
  const noise =
    options.noiseMultiplier === undefined ? { targetEpsilon: options.targetEpsilon } : { noiseMultiplier: options.noiseMultiplier };
  const { model, spent } = trainEbm(
    { x: input.x, y: input.y, rows: input.rows, cols: set.names.length, groups: input.groups },
    {
      rounds: s.rounds,
      learningRate: s.learningRate,
      bins: publicBinCuts(input.transform, set, s.bins),
      maxLeaves: s.maxLeaves,
      baseRate: options.baseRate,
      seed: options.seed,
      onRound: options.onRound,
      dp: options.dp ? { ...noise, delta: options.delta, unit, clipNorm: s.cardCap, insecureNoiseSeed: options.insecureNoiseSeed } : null,
    },
  );
  const assumptions = !spent
    ? []
    : [
        `DP-EBM (Nori et al., ICML 2021): ${set.names.length} noisy bin-count histograms, then ${s.rounds} rounds × ${set.names.length} inputs of ` +
          "noisy residual histograms, each a Gaussian mechanism on the whole training split (no subsampling: the report's sampling " +
          `rate 1 and ${spent.steps} steps); bins from the declared public bounds only, never from the data; the intercept from the public base rate.`,
        unit === 'card'
          ? `Card unit: each row of a card with n rows weighs min(1, ${s.cardCap}/n), so a card moves any one histogram by at most ${s.cardCap} (the sensitivity).`
          : 'Transaction unit: a row lies in one bin of each input and its residual is in [−1, 1], so it moves any one histogram by at most 1.',
        `The (ε, δ) is exact for the composed Gaussian (μ-GDP, Balle-Wang curve): σ = ${spent.noiseMultiplier.toPrecision(4)} is the one ` +
          "multiplier that, applied to every release, gives the same μ as the run's split between counts and residuals.",
      ];
  return { parameters: model, spent, scoreTransformed: (x, rows) => predictEbm(model, x, rows), assumptions };
}
