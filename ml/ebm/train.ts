// DP-EBM training (Nori, Caruana et al., ICML 2021, "Accuracy, Interpretability, and Differential Privacy via
// Explainable Boosting"): cyclic boosting over the inputs. Each round visits every input once: its public bins are
// grouped into at most maxLeaves contiguous leaves at random (a public choice fixed by the seed, as DP-EBM's random
// splits), the residuals y − p are summed per leaf, the sums are noised, and every bin of a leaf moves by
// learningRate · noisy sum / (noisy count · h), a Newton step with the hessian p(1 − p) taken at the public base rate.
// The bin counts are one noisy histogram per input, released once before boosting (post-processed: floored at a
// public minimum). The intercept is the logit of a public base rate under DP (never the private class counts).
//
// Sensitivity: a transaction lies in one bin of each input and |y − p| ≤ 1, so adding or removing it moves one
// histogram (residuals or counts) by at most 1 in L2. Card unit: every row of a card with n rows carries the weight
// min(1, C/n), C the public card cap, so the card's whole contribution to any one histogram is at most C in L1 (hence
// in L2), whatever its rows and labels; the noise scales with C. Accounting: ml/ebm/accounting.ts.

import { createGridNoise, type GridNoise } from '../dpsgd/noise';
import type { NoiseDescription, PrivacySpent, PrivacyUnit } from '../dpsgd/types';
import { InvalidInputError } from '../errors';
import { Rng } from '../random';
import { composedMu, gdpEpsilon, gdpMuFor } from './accounting';
import { type BinCuts, checkCuts } from './bins';
import { binRows, EBM_FORMAT, type EbmModel } from './model';

export interface EbmData {
  /** Inputs after the data-independent transform, rows × cols row-major. */
  x: Float32Array;
  y: Uint8Array;
  rows: number;
  cols: number;
  /** Per row, its card 0 … cards − 1 (required by the card unit). */
  groups?: Int32Array;
}

export interface EbmDpOptions {
  /** Give this or noiseMultiplier (the equivalent σ over all releases, e.g. reserved by the privacy ledger). */
  targetEpsilon?: number;
  noiseMultiplier?: number;
  delta: number;
  unit: PrivacyUnit;
  /** Card unit: the cap C on a card's total weight in any histogram (its sensitivity). Ignored for transactions (1). */
  clipNorm?: number;
  /** Share of μ² spent on the bin counts (default 0.1); the rest goes to the boosting histograms. */
  countShare?: number;
  /** TESTS ONLY: makes the noise a public function of this number; the guarantee then does not hold. */
  insecureNoiseSeed?: number;
}

export interface EbmOptions {
  rounds: number;
  learningRate: number;
  /** Public cuts per input (publicBinCuts), never quantiles of the data. */
  bins: BinCuts;
  /** Leaves per input per round (random contiguous groups of bins); default: one leaf per bin. */
  maxLeaves?: number;
  /** Public base rate: the intercept and the hessian of the Newton step. Required under DP; default the data's rate. */
  baseRate?: number;
  /** A leaf counts as at least this many rows in its step (public shrinkage of sparse leaves; default 0). */
  minLeafRows?: number;
  /** Cap on one leaf's step in logits (public; default 1). */
  maxStep?: number;
  dp: EbmDpOptions | null;
  /** Fixes the public choices only (the random leaves); never the noise. */
  seed: number;
  /** Called after each boosting round (1 … rounds), e.g. for heartbeats. */
  onRound?: (round: number) => void;
}

export interface EbmResult {
  model: EbmModel;
  spent: PrivacySpent | null;
}

export const EBM_ACCOUNTANT = 'gdp (exact Balle-Wang curve of the composed Gaussian)';
const DEFAULT_COUNT_SHARE = 0.1;
/** Residual-noise stream offset (bytes) from the count noise's in seeded tests, so the two never share draws. */
const SEEDED_RESIDUAL_OFFSET = 2 ** 40;

function check(data: EbmData, o: EbmOptions): void {
  const rule = (ok: boolean, text: string) => {
    if (!ok) throw new InvalidInputError(text);
  };
  rule(data.x.length === data.rows * data.cols && data.y.length === data.rows, `data: x must hold rows × cols values and y rows labels`);
  rule(data.rows >= 1, 'data: rows must be >= 1');
  rule(Number.isSafeInteger(o.rounds) && o.rounds >= 1, `rounds = ${o.rounds}: must be a whole number >= 1`);
  rule(o.learningRate > 0 && Number.isFinite(o.learningRate), `learningRate = ${o.learningRate}: must be a finite number > 0`);
  rule(
    o.maxLeaves === undefined || (Number.isSafeInteger(o.maxLeaves) && o.maxLeaves >= 2),
    `maxLeaves = ${o.maxLeaves}: must be a whole number >= 2`,
  );
  rule(o.baseRate === undefined || (o.baseRate > 0 && o.baseRate < 1), `baseRate = ${o.baseRate}: must be in (0, 1)`);
  rule(o.maxStep === undefined || o.maxStep > 0, `maxStep = ${o.maxStep}: must be > 0`);
  checkCuts(o.bins, data.cols, 'bins');
  if (!o.dp) return;
  const dp = o.dp;
  rule(o.baseRate !== undefined, 'baseRate: DP-EBM needs a public base rate (the private class counts cannot set the intercept)');
  rule(
    (dp.targetEpsilon === undefined) !== (dp.noiseMultiplier === undefined),
    'dp: give exactly one of targetEpsilon and noiseMultiplier',
  );
  rule(dp.unit === 'transaction' || dp.unit === 'card', `dp.unit = ${dp.unit}: must be transaction or card`);
  rule(dp.unit !== 'card' || data.groups?.length === data.rows, 'dp.unit card needs data.groups (one card index per row)');
  rule(dp.clipNorm === undefined || (dp.clipNorm > 0 && Number.isFinite(dp.clipNorm)), `dp.clipNorm = ${dp.clipNorm}: must be > 0`);
  const share = dp.countShare ?? DEFAULT_COUNT_SHARE;
  rule(share > 0 && share < 1, `dp.countShare = ${share}: must be in (0, 1)`);
}

/** Row weights of the card unit: min(1, C/rows of the card); and the number of cards. */
export function cardWeights(groups: Int32Array, cap: number): { weights: Float64Array; cards: number } {
  let cards = 0;
  for (const g of groups) cards = Math.max(cards, g + 1);
  const rowsOf = new Float64Array(cards);
  for (const g of groups) rowsOf[g] += 1;
  return { weights: Float64Array.from(groups, (g) => Math.min(1, cap / rowsOf[g])), cards };
}

/** The noise plan of a DP run: T = F count releases + rounds·F boosting releases, one equivalent σ over all T. */
export interface EbmNoisePlan {
  releases: number;
  noiseMultiplier: number;
  countNoiseMultiplier: number;
  residualNoiseMultiplier: number;
  epsilon: number;
}

/** Histogram releases of a run: one bin-count histogram per input, then one residual histogram per input per round. */
export const ebmReleases = (inputs: number, rounds: number): number => inputs * (rounds + 1);

export function planEbmNoise(
  inputs: number,
  rounds: number,
  dp: Pick<EbmDpOptions, 'targetEpsilon' | 'noiseMultiplier' | 'delta' | 'countShare'>,
): EbmNoisePlan {
  const releases = ebmReleases(inputs, rounds);
  const share = dp.countShare ?? DEFAULT_COUNT_SHARE;
  const mu = dp.noiseMultiplier !== undefined ? Math.sqrt(releases) / dp.noiseMultiplier : gdpMuFor(dp.targetEpsilon as number, dp.delta);
  const noiseMultiplier = dp.noiseMultiplier ?? Math.sqrt(releases) / mu;
  // F/σ_c² = share·μ² and rounds·F/σ_r² = (1 − share)·μ²: μ is unchanged.
  const countNoiseMultiplier = Math.sqrt(inputs / (share * mu * mu));
  const residualNoiseMultiplier = Math.sqrt((rounds * inputs) / ((1 - share) * mu * mu));
  const epsilon = gdpEpsilon(
    composedMu([
      { noiseMultiplier: countNoiseMultiplier, times: inputs },
      { noiseMultiplier: residualNoiseMultiplier, times: rounds * inputs },
    ]),
    dp.delta,
  );
  return { releases, noiseMultiplier, countNoiseMultiplier, residualNoiseMultiplier, epsilon };
}

/** Bin → leaf: `leaves` contiguous groups with cut points drawn uniformly without replacement (public randomness). */
function randomLeaves(bins: number, leaves: number, rng: Rng, out: Uint16Array): void {
  if (leaves >= bins) {
    for (let b = 0; b < bins; b++) out[b] = b;
    return;
  }
  const boundaries = Array.from({ length: bins - 1 }, (_, k) => k + 1);
  for (let k = 0; k < leaves - 1; k++) {
    const pick = k + Math.floor(rng.uniform() * (boundaries.length - k));
    [boundaries[k], boundaries[pick]] = [boundaries[pick], boundaries[k]];
  }
  const starts = new Set(boundaries.slice(0, leaves - 1));
  let leaf = 0;
  for (let b = 0; b < bins; b++) {
    if (starts.has(b)) leaf++;
    out[b] = leaf;
  }
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const logit = (p: number) => Math.log(p / (1 - p));

/** Trains an EBM; with `dp`, every histogram it reads is noised and the run's (ε, δ) is returned. */
export function trainEbm(data: EbmData, options: EbmOptions): EbmResult {
  check(data, options);
  const { rows, cols, y } = data;
  const dp = options.dp;
  const cuts = options.bins;
  const binsOf = cuts.map((c) => c.length + 1);
  const leavesOf = binsOf.map((b) => Math.min(b, options.maxLeaves ?? b));
  const binned = binRows(cuts, data.x, rows);

  const card = dp?.unit === 'card' ? cardWeights(data.groups as Int32Array, dp.clipNorm ?? 1) : null;
  const weights = card?.weights;
  const sensitivity = card ? (dp?.clipNorm ?? 1) : 1;
  const units = card ? card.cards : rows;
  if (dp && !(dp.delta > 0 && dp.delta < 1 / units))
    throw new InvalidInputError(`dp.delta = ${dp.delta}: must be in (0, 1/${units}) (1/${card ? 'cards' : 'rows'})`);

  let positives = 0;
  for (let i = 0; i < rows; i++) positives += y[i];
  const baseRate = options.baseRate ?? Math.min(1 - 1e-6, Math.max(1e-6, positives / rows));
  const hessian = baseRate * (1 - baseRate);
  const maxStep = options.maxStep ?? 1;

  const plan = dp ? planEbmNoise(cols, options.rounds, dp) : null;
  const key = (offset: number) => ({ seed: dp?.insecureNoiseSeed, position: dp?.insecureNoiseSeed === undefined ? undefined : offset });
  const maxBins = Math.max(...binsOf);
  const maxLeaves = Math.max(...leavesOf);
  let countNoise: GridNoise | undefined;
  let residualNoise: GridNoise | undefined;
  try {
    if (plan) {
      countNoise = createGridNoise(plan.countNoiseMultiplier, sensitivity, maxBins, key(0), cols);
      residualNoise = createGridNoise(
        plan.residualNoiseMultiplier,
        sensitivity,
        maxLeaves,
        key(SEEDED_RESIDUAL_OFFSET),
        options.rounds * cols,
      );
    }
    // Bin counts (noisy under DP), floored at a public minimum: a few noise deviations, or one row.
    const minCount = Math.max(options.minLeafRows ?? 0, plan ? 3 * plan.countNoiseMultiplier * sensitivity : 1);
    const counts = binned.map((bins, j) => {
      const h = new Float64Array(maxBins);
      for (let i = 0; i < rows; i++) h[bins[i]] += weights ? weights[i] : 1;
      countNoise?.perturb(h);
      return h.subarray(0, binsOf[j]).map((c) => Math.max(c, minCount));
    });

    const intercept = logit(baseRate);
    const scores = binsOf.map((b) => new Float64Array(b));
    const rowScore = new Float64Array(rows).fill(intercept);
    const leafOf = new Uint16Array(maxBins);
    const sums = new Float64Array(maxLeaves);
    const leafCounts = new Float64Array(maxLeaves);
    const step = new Float64Array(maxLeaves);
    for (let round = 0; round < options.rounds; round++) {
      for (let j = 0; j < cols; j++) {
        const bins = binned[j];
        randomLeaves(binsOf[j], leavesOf[j], new Rng([options.seed, round, j]), leafOf);
        sums.fill(0);
        for (let i = 0; i < rows; i++) {
          const r = y[i] - sigmoid(rowScore[i]);
          sums[leafOf[bins[i]]] += weights ? weights[i] * r : r;
        }
        residualNoise?.perturb(sums);
        leafCounts.fill(0);
        for (let b = 0; b < binsOf[j]; b++) leafCounts[leafOf[b]] += counts[j][b];
        for (let l = 0; l < leavesOf[j]; l++) {
          const s = (options.learningRate * sums[l]) / (leafCounts[l] * hessian);
          step[l] = Math.max(-maxStep, Math.min(maxStep, s));
        }
        for (let b = 0; b < binsOf[j]; b++) scores[j][b] += step[leafOf[b]];
        for (let i = 0; i < rows; i++) rowScore[i] += step[leafOf[bins[i]]];
      }
      options.onRound?.(round + 1);
    }
    const model = centred(intercept, cuts, scores, counts);
    return { model, spent: plan && dp ? spentOf(plan, dp, units, sensitivity, residualNoise as GridNoise) : null };
  } finally {
    countNoise?.dispose();
    residualNoise?.dispose();
  }
}

/** Each term shifted to mean 0 over the (noisy) bin counts, the shift moved into the intercept: same scores, readable terms. */
function centred(intercept: number, cuts: BinCuts, scores: Float64Array[], counts: Float64Array[]): EbmModel {
  let bias = intercept;
  const terms = scores.map((s, j) => {
    let total = 0;
    let mean = 0;
    for (let b = 0; b < s.length; b++) {
      total += counts[j][b];
      mean += counts[j][b] * s[b];
    }
    mean /= total;
    bias += mean;
    return { cuts: [...cuts[j]], scores: Array.from(s, (v) => v - mean) };
  });
  return { format: EBM_FORMAT, intercept: bias, terms };
}

function spentOf(plan: EbmNoisePlan, dp: EbmDpOptions, units: number, sensitivity: number, noise: GridNoise): PrivacySpent {
  const description: NoiseDescription = noise.description;
  return {
    epsilon: plan.epsilon,
    delta: dp.delta,
    // Every release is a plain Gaussian on all the data: sampling rate 1, `releases` steps of the equivalent σ.
    noiseMultiplier: plan.noiseMultiplier,
    samplingRate: 1,
    unit: dp.unit,
    units,
    steps: plan.releases,
    clipNorm: sensitivity,
    accountant: EBM_ACCOUNTANT,
    mechanism: 'dp-ebm',
    noise: description,
  };
}
