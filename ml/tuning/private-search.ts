// The privacy of a search on PRIVATE data, fixed before any trial draws noise. Each trial is DP-SGD on the training
// rows followed by the noisy validation score (private-score.ts); the search runs a random number K of trials, drawn
// in secret, and releases only the best (Papernot & Steinke, ICLR 2022: accounting.ts). Their bound needs one RDP
// curve that holds for every trial, so the keys that change a trial's mechanism must be lists of choices: the curve
// is the pointwise maximum over every combination of them, each with σ calibrated to the tuning ε. The bound also
// assumes each trial draws its own candidate at random (secretCandidates) and that only the best trial's
// hyper-parameters and score leave the search, not its index nor the number of trials.
import { type PlannedMechanism, plannedMechanism } from '../dpsgd/plan';
import { InvalidInputError } from '../errors';
import { DP_SGD_FAMILIES, type ExperimentOptions, trainerOptionsFor } from '../experiment';
import { noiseMultiplierFor } from '../privacy';
import type { LedgerMechanism } from '../privacy/ledger';
import { DEFAULT_RDP_ORDERS, subsampledGaussianRdp } from '../privacy/rdp';
import { randomTrialsEpsilon, secureUniform, type TrialCountDistribution } from './accounting';
import {
  type Candidate,
  candidateOptions,
  type SearchSpace,
  sampleCandidates,
  type TunableKey,
  type TunableValue,
  type UniformSource,
} from './space';

/** The keys whose value changes what a DP-SGD trial's accountant composes (rate, steps, per-class rates). */
export const MECHANISM_KEYS: readonly TunableKey[] = ['samplingRate', 'epochs', 'balance'];

export interface TrialMechanism {
  samplingRate: number;
  steps: number;
  noiseMultiplier: number;
}

/** The training split's units: what a DP trial's plan reads (its class counts are not: under DP the class weight and
 * the stratified rates come from the public fraud rate, and the normaliser is q·rows). */
export interface PrivateDataCounts {
  rows: number;
  cards: number;
}

type SearchOptions = Omit<ExperimentOptions, 'protocol'>;

/** What a trial's accountant composes: its sampling rate and steps on data with these counts. */
export function trialPlan(options: SearchOptions, counts: PrivateDataCounts): PlannedMechanism {
  const plan = plannedMechanism(trainerOptionsFor(options, 0, counts.rows), { ...counts, positives: 0 });
  if (!plan) throw new InvalidInputError('pipeline.training.dp: a search on private data trains every trial with DP');
  return plan;
}

const sameMechanism = (a: Pick<TrialMechanism, 'samplingRate' | 'steps'>, b: Pick<TrialMechanism, 'samplingRate' | 'steps'>) =>
  a.samplingRate === b.samplingRate && a.steps === b.steps;

/** The reserved σ of a trial's mechanism; a mechanism the reservation did not cover is refused. */
export function reservedNoise(mechanisms: readonly TrialMechanism[], plan: Pick<TrialMechanism, 'samplingRate' | 'steps'>): number {
  const found = mechanisms.find((m) => sameMechanism(m, plan));
  if (!found) {
    throw new InvalidInputError(
      `trial mechanism q = ${plan.samplingRate}, ${plan.steps} steps: not among the mechanisms the search reserved in the privacy ledger`,
    );
  }
  return found.noiseMultiplier;
}

function choicesOf(space: SearchSpace, key: TunableKey, base: SearchOptions): TunableValue[] {
  const dimension = space[key];
  if (dimension === undefined) return [base[key as keyof SearchOptions] as TunableValue];
  if (!Array.isArray(dimension)) {
    throw new InvalidInputError(
      `tuning.space.${key}: a search on private data bounds every trial's privacy over this key's choices, so it must be a list, not log-uniform`,
    );
  }
  return dimension;
}

/**
 * Throws InvalidInputError naming the key unless a search of `space` on private data can be accounted: training with
 * DP, only DP-SGD families (the EBM's releases are accounted apart), and lists of choices for the mechanism keys.
 */
export function checkPrivateSpace(space: SearchSpace, options: SearchOptions): void {
  if (!options.dp) throw new InvalidInputError('pipeline.training.dp: a search on private data trains every trial with DP');
  const families = choicesOf(space, 'family', { ...options, family: options.family ?? 'mlp' });
  const other = families.find((f) => !(DP_SGD_FAMILIES as readonly TunableValue[]).includes(f));
  if (other !== undefined) {
    throw new InvalidInputError(
      `tuning.space.family: "${other}" cannot be searched on private data (only the DP-SGD families ${DP_SGD_FAMILIES.join(', ')}: ` +
        'use `fraudops tune --family F` or list them); tune it on public data',
    );
  }
  for (const key of MECHANISM_KEYS) choicesOf(space, key, options);
  if ((options.privacyUnit ?? 'transaction') === 'card' && choicesOf(space, 'balance', options).includes('stratified')) {
    throw new InvalidInputError(
      'tuning.space.balance: stratified samples rows at per-class rates, which the card unit refuses (a card’s rate would depend on its labels)',
    );
  }
}

/** Draws from node:crypto: a private search's candidates (never replayable from the search's id). */
export const secureSource: UniformSource = {
  uniformInt: (n) => Math.floor(secureUniform() * n),
  uniformRange: (low, high) => low + (high - low) * secureUniform(),
};

/** The candidates of a private search's trials, each drawn independently from the secret source. */
export const secretCandidates = (space: SearchSpace, count: number): Candidate[] => sampleCandidates(space, count, secureSource);

/**
 * Every distinct DP-SGD mechanism a candidate of `space` runs on data with these counts, each with its σ calibrated
 * to options.targetEpsilon at options.delta (options.accountant). The space must pass checkPrivateSpace.
 */
export function trialMechanisms(space: SearchSpace, options: SearchOptions, counts: PrivateDataCounts): TrialMechanism[] {
  checkPrivateSpace(space, options);
  let combos: Candidate[] = [{}];
  for (const key of MECHANISM_KEYS) {
    const values = choicesOf(space, key, options);
    combos = combos.flatMap((combo) => values.map((value) => ({ ...combo, [key]: value })));
  }
  const mechanisms: TrialMechanism[] = [];
  for (const combo of combos) {
    const plan = trialPlan({ ...candidateOptions(options, combo), family: 'logistic' }, counts);
    if (mechanisms.some((m) => sameMechanism(m, plan))) continue;
    const { noiseMultiplier } = noiseMultiplierFor({
      samplingRate: plan.samplingRate,
      steps: plan.steps,
      delta: options.delta,
      targetEpsilon: options.targetEpsilon,
      accountant: options.accountant,
    });
    mechanisms.push({ samplingRate: plan.samplingRate, steps: plan.steps, noiseMultiplier });
  }
  return mechanisms;
}

export interface ScoreNoise {
  /** How far one unit moves the score's count (private-score.ts hitsSensitivity). */
  sensitivity: number;
  /** The whole-number σ of its discrete Gaussian. */
  sigma: number;
}

export interface SearchPrivacy {
  /** ε of the whole search (what it releases: the best candidate and its noisy score) at `delta`. */
  epsilon: number;
  delta: number;
  /** The RDP order of the conversion. */
  order: number;
  expectedTrials: number;
  /** What the ledger composes for the search: an (ε, δ)-DP release. */
  ledger: LedgerMechanism;
}

/**
 * One trial's RDP at an order: the worst of the training mechanisms, plus the score's Gaussian α·Δ²/(2σ²) (the
 * discrete Gaussian satisfies the continuous one's RDP: Canonne, Kamath, Steinke 2020).
 */
export function trialRdp(mechanisms: readonly TrialMechanism[], score: ScoreNoise, order: number): number {
  const training = Math.max(...mechanisms.map((m) => m.steps * subsampledGaussianRdp(m.samplingRate, m.noiseMultiplier, order)));
  return training + (order * score.sensitivity ** 2) / (2 * score.sigma ** 2);
}

/** The search's (ε, δ): Papernot–Steinke over the trial curve, at dp-accounting's orders. */
export function searchPrivacy(
  mechanisms: readonly TrialMechanism[],
  score: ScoreNoise,
  distribution: TrialCountDistribution,
  delta: number,
): SearchPrivacy {
  if (!mechanisms.length) throw new InvalidInputError('mechanisms: a private search needs at least one trial mechanism');
  const result = randomTrialsEpsilon((order) => trialRdp(mechanisms, score, order), distribution, delta, DEFAULT_RDP_ORDERS);
  return { ...result, ledger: { kind: 'approximate-dp', epsilon: result.epsilon, delta } };
}
