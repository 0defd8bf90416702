// The privacy report of a trained model (DESIGN §6): what the (ε, δ) of DP training (DP-SGD, or DP-EBM's noisy
// histograms: PrivacySpent.mechanism) covers and, as plainly, what it does not. Every sentence is built from the numbers given; nothing is claimed that they do not support.
//
// Its first lines (`summary`, printed first by renderPrivacyReport) say the unit, the per-run (ε, δ), the lifetime
// (ε, δ) of the worst day or card, the noise, and the verdict; then every assumption and everything not covered.

import type { NoiseDescription, PrivacySpent, PrivacyUnit } from '../dpsgd/types';
import { InvalidInputError } from '../errors';
import { checkParam } from './params';
import type { TerminalInfluence } from './terminal-influence';

/**
 * How a step before training touches the data: `data-independent` uses no statistic of it; `group-privacy` makes
 * training examples from several records and is accounted through the measured influence (SMOTE); `not-private`
 * reads the data without DP noise.
 */
export const PREPROCESSING_TREATMENTS = ['data-independent', 'group-privacy', 'not-private'] as const;
export type PreprocessingTreatment = (typeof PREPROCESSING_TREATMENTS)[number];

export interface PreprocessingStep {
  name: string;
  treatment: PreprocessingTreatment;
  description: string;
}

/** The composed (ε, δ) of every accounted training attempt (the ledger), at its worst event day or card. */
export interface LifetimeSpent {
  /** null: unbounded (a non-private training touched that day or period). */
  epsilon: number | null;
  delta: number;
  /** Where that worst case is, e.g. 'event day 2024-05-03' or 'any card over 365 days'. */
  scope: string;
}

/** Something else that leaves with the model, named because its noise-free content is outside the budget. */
export interface ReleasedItem {
  name: string;
  statement: string;
}

export interface PrivacyReportInput {
  /** What DP training spent, or null when training was not differentially private. */
  spent: PrivacySpent | null;
  /** N: original records of the training split (before any over-sampling). */
  records: number;
  /**
   * Per original record, the training examples it influences (SMOTE's `influence`: 1 + synthetic rows it took part
   * in). Required exactly when a step has treatment `group-privacy`; without it each record is one example.
   */
  influence?: ArrayLike<number>;
  /** Every preprocessing step before training, with its treatment. */
  preprocessing: readonly PreprocessingStep[];
  /** The released decision threshold and the split it was chosen on (e.g. 'validation'), when there is one. */
  threshold?: { value: number; split: string };
  /** The public choices the run rests on (BalancedTraining.assumptions): listed with the report's own. */
  assumptions?: readonly string[];
  /** The ledger's composed (ε, δ) at the worst day or card, this run included; absent: this run alone is accounted. */
  lifetime?: LifetimeSpent;
  /** Card unit: the measured reach of a card into other cards' rows through the terminal windows (terminalInfluence). */
  terminalInfluence?: TerminalInfluence;
  /** Other files or figures released with the model whose exact content is outside the budget (e.g. reference.json). */
  released?: readonly ReleasedItem[];
}

export interface InfluenceSummary {
  max: number;
  mean: number;
  /** Records with influence k > 1, and their share of N. */
  recordsAboveOne: number;
  shareAboveOne: number;
  /** Records per influence value, ascending. */
  histogram: Array<{ influence: number; records: number }>;
}

export interface GroupGuarantee {
  /** k: the largest measured influence. */
  groupSize: number;
  epsilon: number;
  /** min(1, k·e^{(k−1)ε}·δ); 1 means the bound says nothing. */
  delta: number;
  /** log10 of k·e^{(k−1)ε}·δ before the cap at 1 (finite even when the bound itself overflows). */
  log10DeltaBound: number;
  statement: string;
}

export interface PrivacyReport {
  format: typeof PRIVACY_REPORT_FORMAT;
  /** True when the per-unit (ε, δ) holds for the training units of the released model; `reasons` say why not. */
  covered: boolean;
  reasons: string[];
  /** The report's first lines, in order: unit, per run, lifetime, noise, verdict. */
  summary: string[];
  /** The privacy unit and how many the training data has; null without DP. */
  unit: { name: PrivacyUnit; units: number; statement: string } | null;
  /** This run's (ε, δ) per unit; null without DP. */
  perRun: { epsilon: number; delta: number } | null;
  /** The ledger's worst day or card; null when only this run is accounted (or without DP). */
  lifetime: (LifetimeSpent & { statement: string }) | null;
  noise: (NoiseDescription & { statement: string }) | null;
  /** One line each: how each unit's gradient was bounded, and which parameters were released; null without DP. */
  clipping: string | null;
  averaging: string | null;
  /** δ against 1/units (the trainer refuses δ ≥ 1/units before training). */
  deltaCheck: { delta: number; units: number; limit: number; holds: boolean; statement: string } | null;
  training: PrivacySpent | null;
  records: number;
  /** 1/units (rows or cards): the per-unit δ must be below it. */
  deltaLimit: number;
  perExample: { epsilon: number; delta: number; statement: string } | null;
  perRecord: GroupGuarantee | null;
  influence: InfluenceSummary | null;
  /** Card unit: the reach into other cards' rows (not covered), with the group bound it would need. */
  terminalInfluence: (TerminalInfluence & { groupSize: number; statement: string }) | null;
  preprocessing: PreprocessingStep[];
  threshold: { value: number; split: string; insideBudget: false; statement: string } | null;
  released: ReleasedItem[];
  /** What the guarantee does not cover, whatever the numbers. */
  notCovered: string[];
  /** The conditions the stated guarantees rest on. */
  assumptions: string[];
}

export const PRIVACY_REPORT_FORMAT = 'fraudops-privacy-report/2';
/** Reports of bundles written before the summary, unit, lifetime and noise fields: still readable. */
export const LEGACY_PRIVACY_REPORT_FORMATS = ['fraudops-privacy-report/1'] as const;

export const GROUP_PRIVACY_CITATION =
  'group privacy: an (ε, δ)-DP mechanism is (kε, k·e^{(k−1)ε}·δ)-DP for datasets differing in k examples ' +
  '(hybrid argument over k neighbouring datasets, δ·Σ_{i<k} e^{iε} ≤ k·e^{(k−1)ε}·δ; ' +
  'S. Vadhan, "The Complexity of Differential Privacy", 2017, Lemma 2.2; C. Dwork and A. Roth, ' +
  '"The Algorithmic Foundations of Differential Privacy", 2014, Theorem 2.2 for ε-DP)';

const fmtEps = (value: number): string => value.toPrecision(4);
const fmtDelta = (value: number): string => (value >= 1 ? '1 (vacuous)' : value.toExponential(2));
const UNIT_NAMES: Record<PrivacyUnit, string> = { transaction: 'rows', card: 'cards' };
/** DP-EBM (ml/ebm/): Gaussian histogram releases on all the data, where DP-SGD has Poisson-sampled gradient steps. */
const isEbm = (spent: PrivacySpent): boolean => spent.mechanism === 'dp-ebm';

function checkSpent(spent: PrivacySpent): void {
  if (!(Number.isFinite(spent.epsilon) && spent.epsilon >= 0)) {
    throw new InvalidInputError(`spent.epsilon must be a finite number >= 0; got ${spent.epsilon}`);
  }
  checkParam('delta', spent.delta);
  checkParam('noiseMultiplier', spent.noiseMultiplier);
  checkParam('samplingRate', spent.samplingRate);
  checkParam('steps', spent.steps);
  if (!(Number.isFinite(spent.clipNorm) && spent.clipNorm > 0)) {
    throw new InvalidInputError(`spent.clipNorm must be a finite number > 0; got ${spent.clipNorm}`);
  }
  if (spent.unit !== 'transaction' && spent.unit !== 'card') {
    throw new InvalidInputError(`spent.unit must be 'transaction' or 'card'; got ${JSON.stringify(spent.unit)}`);
  }
  if (!(Number.isSafeInteger(spent.units) && spent.units >= 1)) {
    throw new InvalidInputError(`spent.units must be a whole number >= 1 (the ${UNIT_NAMES[spent.unit]} trained on); got ${spent.units}`);
  }
  if (typeof spent.noise?.secret !== 'boolean' || typeof spent.noise.method !== 'string') {
    throw new InvalidInputError('spent.noise must say how the noise was drawn ({ method, secret, citation })');
  }
}

function checkLifetime(lifetime: LifetimeSpent, spent: PrivacySpent | null): void {
  if (!spent) throw new InvalidInputError('lifetime was given for a run without DP: there is nothing to compose');
  if (lifetime.epsilon !== null && !(Number.isFinite(lifetime.epsilon) && lifetime.epsilon >= 0)) {
    throw new InvalidInputError(`lifetime.epsilon must be a finite number >= 0, or null when unbounded; got ${lifetime.epsilon}`);
  }
  checkParam('delta', lifetime.delta);
  if (typeof lifetime.scope !== 'string' || lifetime.scope.length === 0) {
    throw new InvalidInputError('lifetime.scope must name the worst event day or card period');
  }
}

function summariseInfluence(influence: ArrayLike<number>, records: number): InfluenceSummary {
  if (influence.length !== records) {
    throw new InvalidInputError(`influence has ${influence.length} counts: it must have one per training record (records = ${records})`);
  }
  const counts = new Map<number, number>();
  let sum = 0;
  for (let i = 0; i < influence.length; i++) {
    const k = influence[i];
    if (!(Number.isSafeInteger(k) && k >= 1)) throw new InvalidInputError(`influence[${i}] = ${k}: counts must be whole numbers >= 1`);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    sum += k;
  }
  const histogram = [...counts].sort((a, b) => a[0] - b[0]).map(([k, n]) => ({ influence: k, records: n }));
  const recordsAboveOne = records - (counts.get(1) ?? 0);
  return {
    max: histogram[histogram.length - 1].influence,
    mean: sum / records,
    recordsAboveOne,
    shareAboveOne: recordsAboveOne / records,
    histogram,
  };
}

/** (kε, min(1, k·e^{(k−1)ε}·δ)), the bound computed in log space so that a large k cannot overflow it. */
export function groupPrivacy(epsilon: number, delta: number, k: number): { epsilon: number; delta: number; log10DeltaBound: number } {
  const logDelta = Math.log(k) + (k - 1) * epsilon + Math.log(delta);
  return { epsilon: k * epsilon, delta: Math.min(1, Math.exp(logDelta)), log10DeltaBound: logDelta / Math.LN10 };
}

function checkSteps(input: PrivacyReportInput): void {
  input.preprocessing.forEach((step, i) => {
    if (!PREPROCESSING_TREATMENTS.includes(step.treatment)) {
      throw new InvalidInputError(
        `preprocessing[${i}] (${step.name}): treatment = ${JSON.stringify(step.treatment)} must be one of ${PREPROCESSING_TREATMENTS.join(', ')}`,
      );
    }
  });
  const grouped = input.preprocessing.filter((step) => step.treatment === 'group-privacy');
  if (grouped.length > 0 && !input.influence) {
    throw new InvalidInputError(`preprocessing step "${grouped[0].name}" is accounted by group privacy: its influence counts are required`);
  }
  if (grouped.length === 0 && input.influence) {
    throw new InvalidInputError(
      'influence counts were given but no preprocessing step has treatment group-privacy: name the step that made them',
    );
  }
}

function unitOf(spent: PrivacySpent): NonNullable<PrivacyReport['unit']> {
  const bounded = isEbm(spent)
    ? `each of a card's n rows weighs min(1, ${spent.clipNorm}/n) in every histogram, so the card moves one by at most ${spent.clipNorm}`
    : "each sampled card's summed gradient is clipped as one (user-level DP-SGD, McMahan et al. 2018)";
  const statement =
    spent.unit === 'card'
      ? `card: one card (a pseudonymised customer id) with all of its transactions in the training split, added or removed together; ` +
        `${bounded}. ${spent.units} cards.`
      : `transaction: one transaction, i.e. its feature row (the model's inputs) and its label in the training split; neighbouring ` +
        `datasets add or remove one row. A card's other transactions are other units. ${spent.units} rows.`;
  return { name: spent.unit, units: spent.units, statement };
}

function deltaCheckOf(spent: PrivacySpent): NonNullable<PrivacyReport['deltaCheck']> {
  const limit = 1 / spent.units;
  const holds = spent.delta < limit;
  const against = `1/${spent.units} ${UNIT_NAMES[spent.unit]} = ${limit.toExponential(2)}`;
  return {
    delta: spent.delta,
    units: spent.units,
    limit,
    holds,
    statement: holds
      ? `δ = ${fmtDelta(spent.delta)} < ${against} (checked by the trainer before training)`
      : `δ = ${fmtDelta(spent.delta)} is NOT below ${against}`,
  };
}

function noiseOf(noise: NoiseDescription): NonNullable<PrivacyReport['noise']> {
  const grid = noise.grid === undefined ? '' : ` on the grid γ = ${noise.grid}`;
  const statement = noise.secret
    ? `${noise.method}${grid}, drawn from secret randomness (an unseeded CSPRNG); ${noise.citation}`
    : `${noise.method}${grid}: NOT secret (replayable from a public seed), so NOT covered whatever ε says; ${noise.citation}`;
  return { ...noise, statement };
}

function clippingOf(spent: PrivacySpent): string {
  const c = spent.clipNorm;
  if (isEbm(spent))
    return `Sensitivity: adding or removing one ${spent.unit} moves any one histogram by at most Δ = ${c} (L2); the noise is σ·Δ.`;
  if (spent.clipping?.mode !== 'automatic')
    return `Clipping: flat: each unit's gradient g is scaled by min(1, C/‖g‖), C = ${c}; sensitivity C.`;
  const stability = spent.clipping.stability;
  return (
    `Clipping: automatic (Bu et al. 2023, normalised): each unit's gradient g becomes C·g/(‖g‖ + γ), C = ${c}, γ = ${stability}, whose norm ` +
    'is below C; sensitivity C, the same noise σ·C and accounting as flat clipping.'
  );
}

function averagingOf(spent: PrivacySpent): string {
  if (isEbm(spent))
    return 'Released: the final additive model (an intercept from the public base rate and per-input bin scores), a function of the noisy histograms only.';
  if (spent.averaging?.mode !== 'ema') return 'Averaging: none: the released parameters are the last DP-SGD iterate.';
  return (
    `Averaging: EMA of the DP-SGD iterates (decay ${spent.averaging.decay}, warmed up as min(decay, (1 + t)/(10 + t))): computed ` +
    'from the private iterates only, so post-processing at no privacy cost.'
  );
}

/** The accounted mechanism, in words: what ran, its accountant and its parameters. */
function mechanismOf(spent: PrivacySpent): string {
  if (isEbm(spent))
    return (
      `DP-EBM (${spent.accountant}; ${spent.steps} Gaussian histogram releases on the whole training split, without subsampling, ` +
      `equivalent noise multiplier σ = ${spent.noiseMultiplier} on each, sensitivity Δ = ${spent.clipNorm})`
    );
  return (
    `DP-SGD (${spent.accountant} accountant; noise multiplier σ = ${spent.noiseMultiplier}, sampling rate q = ${spent.samplingRate}, ` +
    `${spent.steps} steps, clipping norm C = ${spent.clipNorm})`
  );
}

function terminalInfluenceOf(measured: TerminalInfluence, spent: PrivacySpent): NonNullable<PrivacyReport['terminalInfluence']> {
  // Removing a card changes the rows of up to m other cards: each is one removal and one addition, so 1 + 2m units differ.
  const groupSize = 1 + 2 * measured.otherCards.max;
  const group = groupPrivacy(spent.epsilon, spent.delta, groupSize);
  const { otherRows, otherCards } = measured;
  const statement =
    `One card's transactions enter the terminal windows of other cards' rows (the terminal counts, and through its labels the ` +
    `terminal risks, ${measured.labelDelayDays} to ${measured.labelDelayDays + measured.windowDays} days later). Measured on this ` +
    `run's ${measured.trainingRows} training rows: a card changes up to ${otherRows.max} training rows of up to ${otherCards.max} other cards ` +
    `(mean ${otherRows.mean.toFixed(1)} rows of ${otherCards.mean.toFixed(1)} cards; ${(100 * measured.shareAboveZero).toFixed(1)} % of ` +
    `${measured.cards} cards change at least one). Only the card's own rows are accounted; a bound for a card with everything it ` +
    `moves would take group privacy over k = 1 + 2·${otherCards.max} = ${groupSize} cards: (ε = ${fmtEps(group.epsilon)}, δ = ${fmtDelta(group.delta)}).`;
  return { ...measured, groupSize, statement };
}

function lifetimeOf(lifetime: LifetimeSpent): NonNullable<PrivacyReport['lifetime']> {
  const composed = 'every training attempt the ledger recorded (this one included), composed';
  return {
    ...lifetime,
    statement:
      lifetime.epsilon === null
        ? `UNBOUNDED for ${lifetime.scope}: a non-private training touched it (${composed})`
        : `(ε = ${fmtEps(lifetime.epsilon)}, δ = ${fmtDelta(lifetime.delta)}) for ${lifetime.scope}: ${composed}`,
  };
}

const METRICS_NOT_COVERED =
  'Metrics computed without noise on the validation and test rows and published with the model: average precision, ROC AUC, ' +
  'card precision@100, F2 and the confusion matrix at the threshold, the champion’s scores on the same rows, and the PR, ROC and ' +
  'threshold curves (metrics.json and plots/*.svg in the bundle, and the MLflow run’s metrics). Those rows get no protection from them.';

const COUNTS_NOT_COVERED =
  'Exact counts: rows and frauds of the snapshot and of each split (the workflow’s status and history, the MLflow run’s ' +
  'train_rows, train_examples and test_rows, the PR plot’s prevalence line).';

function unitNotCovered(spent: PrivacySpent | null, terminal: PrivacyReport['terminalInfluence']): string[] {
  if (spent?.unit === 'card') {
    return [
      terminal?.statement ??
        "One card's transactions enter the terminal windows of other cards' rows (terminal counts, and through its labels the " +
          'terminal risks): not accounted, and not measured for this run.',
    ];
  }
  return [
    'A card (customer) as a whole: each of its transactions is a separate unit; a guarantee for all of them would need group ' +
      'privacy over their number, which this report does not compute (privacy.unit card covers a card).',
    "A transaction's influence on other rows' features: through the customer windows it changes its card's other rows (counts " +
      'and mean amounts over 1, 7 and 30 days), through the terminal windows every later row at its terminal (counts, and its ' +
      'label in the risk features after the label delay). Only its own row is accounted.',
  ];
}

export function buildPrivacyReport(input: PrivacyReportInput): PrivacyReport {
  const { spent, records } = input;
  if (!(Number.isSafeInteger(records) && records >= 1)) throw new InvalidInputError(`records must be a whole number >= 1; got ${records}`);
  if (spent) checkSpent(spent);
  if (input.lifetime) checkLifetime(input.lifetime, spent);
  if (input.terminalInfluence && spent?.unit !== 'card') {
    throw new InvalidInputError('terminalInfluence is measured for the card unit: this run is not card-level DP');
  }
  checkSteps(input);
  if (input.threshold && !Number.isFinite(input.threshold.value)) {
    throw new InvalidInputError(`threshold.value must be a finite number; got ${input.threshold.value}`);
  }

  const deltaLimit = 1 / (spent?.units ?? records);
  const influence = input.influence ? summariseInfluence(input.influence, records) : null;
  const k = influence?.max ?? 1;
  const reasons: string[] = [];
  const unit = spent ? unitOf(spent) : null;
  const deltaCheck = spent ? deltaCheckOf(spent) : null;
  const noise = spent ? noiseOf(spent.noise) : null;
  const lifetime = input.lifetime ? lifetimeOf(input.lifetime) : null;
  const terminal = spent && input.terminalInfluence ? terminalInfluenceOf(input.terminalInfluence, spent) : null;
  const assumptions: string[] = [];
  if (spent && unit) {
    assumptions.push(
      isEbm(spent)
        ? `The unit of privacy is one ${unit.name}; neighbouring datasets differ by adding or removing one (the relation of the ` +
            'Gaussian mechanism’s accounting).'
        : `The unit of privacy is one ${unit.name}; neighbouring datasets differ by adding or removing one (the relation of the ` +
            'Poisson-subsampled accountant).',
      isEbm(spent)
        ? 'DP-EBM ran as accounted: every histogram computed over all units (no subsampling), each unit bounded by the stated ' +
            'sensitivity, the stated noise on every release, and only the final model (a function of the noisy histograms) released.'
        : 'DP-SGD ran as accounted: Poisson sampling of units at the stated rate, each unit’s gradient bounded by the stated norm, the ' +
            'stated noise on every step, and only the final model (a function of the iterates) released.',
    );
  }

  let perExample: PrivacyReport['perExample'] = null;
  let perRecord: GroupGuarantee | null = null;
  if (!spent) {
    reasons.push('training is not differentially private (no DP noise): no (ε, δ) holds for any record');
  } else {
    perExample = {
      epsilon: spent.epsilon,
      delta: spent.delta,
      statement:
        `${mechanismOf(spent)} is (ε = ${fmtEps(spent.epsilon)}, δ = ${fmtDelta(spent.delta)})-DP ` +
        `with respect to adding or removing one ${spent.unit === 'card' ? 'card (all of its training rows)' : 'training example'}.`,
    };
    if (deltaCheck && !deltaCheck.holds) reasons.push(`the per-run ${deltaCheck.statement}`);
    const group = groupPrivacy(spent.epsilon, spent.delta, k);
    const statement =
      k === 1
        ? `Each training record is exactly one training example (${influence ? 'measured influence 1 for every record' : 'no over-sampling step'}), ` +
          `so the per-record guarantee equals the per-example one: (ε = ${fmtEps(group.epsilon)}, δ = ${fmtDelta(group.delta)}).`
        : `A training record influences up to k = ${k} training examples (itself and the synthetic rows made from it). By group privacy, ` +
          `training is (kε = ${fmtEps(group.epsilon)}, k·e^{(k−1)ε}·δ = ${fmtDelta(group.delta)})-DP with respect to those k examples of one record.`;
    perRecord = { groupSize: k, ...group, statement };
    if (k > 1 && group.delta >= 1 / records) {
      reasons.push(
        `the per-record δ = ${fmtDelta(group.delta)} is not below 1/N = ${(1 / records).toExponential(2)} (N = ${records} records)`,
      );
    }
  }
  if (influence && k > 1) {
    reasons.push(
      'over-sampling (SMOTE) is not itself differentially private: removing one record also changes which rows are ' +
        'neighbours and which synthetic rows are drawn for other records, so the group bound over the measured influence ' +
        'is a per-record estimate for this run, not an end-to-end guarantee',
    );
  }
  if (spent && !spent.noise.secret) {
    reasons.push(
      `the DP noise is not secret (${spent.noise.method}): it follows from a public seed, so anyone can replay the training on neighbouring data and no (ε, δ) holds`,
    );
  }
  for (const step of input.preprocessing) {
    if (step.treatment === 'not-private') reasons.push(`preprocessing step "${step.name}" reads the data without DP: ${step.description}`);
  }
  if (influence && k > 1) {
    assumptions.push(
      `The per-record bound counts the ${k} examples a record took part in, in this run's over-sampled set. Over-sampling itself is not a DP ` +
        'mechanism: without the record, the other synthetic rows could pick other neighbours and other random draws. The bound compares the ' +
        'over-sampled set with and without those k examples; it is not an end-to-end guarantee of over-sampling followed by training.',
    );
  }
  for (const line of input.assumptions ?? []) if (!assumptions.includes(line)) assumptions.push(line);

  const threshold = input.threshold
    ? {
        value: input.threshold.value,
        split: input.threshold.split,
        insideBudget: false as const,
        statement:
          `The decision threshold ${input.threshold.value} was chosen on the ${input.threshold.split} split without noise: it is NOT inside ` +
          `the privacy budget. The model is released with a threshold fitted on non-private ${input.threshold.split} data, so the ` +
          `${input.threshold.split} records get no DP protection from the release.`,
      }
    : null;
  const released = (input.released ?? []).map((item) => ({ ...item }));
  const notCovered = [
    ...(threshold ? [threshold.statement] : []),
    METRICS_NOT_COVERED,
    ...released.map((item) => item.statement),
    COUNTS_NOT_COVERED,
    ...unitNotCovered(spent, terminal),
    lifetime
      ? 'Choices people make after reading earlier runs’ results (settings, hyperparameters): the ledger composes every training ' +
        'attempt, not what was learnt from their published metrics.'
      : 'Other training runs on the same data (retrains over overlapping windows, rejected or expired candidates, tuning): not ' +
        'composed here; `fraudops privacy ledger` composes them.',
  ];

  const covered = reasons.length === 0;
  const summary = spent
    ? [
        `Unit: ${unit?.statement}`,
        `Per run: (ε = ${fmtEps(spent.epsilon)}, δ = ${fmtDelta(spent.delta)}) per ${spent.unit}; ${deltaCheck?.statement}.`,
        lifetime ? `Lifetime: ${lifetime.statement}.` : 'Lifetime: not accounted (this run alone).',
        `Noise: ${noise?.statement}.`,
      ]
    : ['Unit: none: training is not differentially private.', 'Per run: no (ε, δ).', 'Lifetime: not accounted (no DP).', 'Noise: none.'];
  summary.push(
    covered
      ? `**Covered**: the per-${spent?.unit} guarantee above holds for the ${spent?.units} training ${UNIT_NAMES[spent?.unit ?? 'transaction']} ` +
          '(within the assumptions, and for nothing listed under Not covered).'
      : `**NOT covered** by a differential-privacy guarantee: ${reasons.join('; ')}.`,
  );

  return {
    format: PRIVACY_REPORT_FORMAT,
    covered,
    reasons,
    summary,
    unit,
    perRun: spent ? { epsilon: spent.epsilon, delta: spent.delta } : null,
    lifetime,
    noise,
    clipping: spent ? clippingOf(spent) : null,
    averaging: spent ? averagingOf(spent) : null,
    deltaCheck,
    training: spent ? { ...spent, noise: { ...spent.noise } } : null,
    records,
    deltaLimit,
    perExample,
    perRecord,
    influence,
    terminalInfluence: terminal,
    preprocessing: input.preprocessing.map((step) => ({ ...step })),
    threshold,
    released,
    notCovered,
    assumptions,
  };
}

const cell = (text: string | number): string => String(text).replace(/\|/g, '\\|');

/** The report as Markdown, for people: the same facts as the JSON, nothing added; the summary lines come first. */
export function renderPrivacyReport(report: PrivacyReport): string {
  const lines: string[] = ['# Privacy report'];
  for (const line of report.summary) lines.push(`- ${line}`);
  lines.push('', '## Assumptions', '');
  if (report.assumptions.length === 0) lines.push('None: nothing is claimed.');
  for (const item of report.assumptions) lines.push(`- ${item}`);
  lines.push('', '## Not covered', '');
  for (const item of report.notCovered) lines.push(`- ${item}`);
  lines.push('');

  lines.push('## Guarantee', '');
  if (report.training && report.perExample && report.perRecord) {
    const t = report.training;
    lines.push('| quantity | value |', '|---|---|');
    lines.push(
      `| unit | ${t.unit} (${t.units} ${UNIT_NAMES[t.unit]}) |`,
      `| accountant | ${cell(t.accountant)} |`,
      `| noise | ${cell(t.noise.method)}${t.noise.secret ? '' : ' (NOT secret)'} |`,
      `| noise multiplier σ | ${t.noiseMultiplier} |`,
      `| sampling rate q | ${t.samplingRate} |`,
    );
    const [steps, bound] = isEbm(t) ? ['histogram releases', 'sensitivity Δ'] : ['steps', 'clipping norm C'];
    lines.push(`| ${steps} | ${t.steps} |`, `| ${bound} | ${t.clipNorm} |`, `| training records N | ${report.records} |`);
    lines.push(`| per-${t.unit} (ε, δ) | (${fmtEps(report.perExample.epsilon)}, ${fmtDelta(report.perExample.delta)}) |`);
    lines.push(`| group size k (max influence) | ${report.perRecord.groupSize} |`);
    lines.push(`| per-record (ε, δ) | (${fmtEps(report.perRecord.epsilon)}, ${fmtDelta(report.perRecord.delta)}) |`);
    lines.push(`| 1/units | ${report.deltaLimit.toExponential(2)} |`);
    const life = report.lifetime;
    if (life) {
      const value = life.epsilon === null ? 'unbounded' : `(${fmtEps(life.epsilon)}, ${fmtDelta(life.delta)})`;
      lines.push(`| lifetime (ε, δ), ${cell(life.scope)} | ${value} |`);
    }
    lines.push('', report.perExample.statement, '', report.perRecord.statement, '');
    for (const line of [report.clipping, report.averaging]) if (line) lines.push(line, '');
    if (report.perRecord.groupSize > 1) lines.push(`Bound: ${GROUP_PRIVACY_CITATION}.`, '');
  } else {
    lines.push('None: training was not differentially private.', '');
  }

  if (report.terminalInfluence) {
    const t = report.terminalInfluence;
    lines.push('## Terminal influence (card unit, not covered)', '');
    lines.push('| per card | max | mean |', '|---|---|---|');
    lines.push(`| other cards' training rows changed | ${t.otherRows.max} | ${t.otherRows.mean.toFixed(2)} |`);
    lines.push(`| other cards changed | ${t.otherCards.max} | ${t.otherCards.mean.toFixed(2)} |`, '');
  }

  if (report.influence) {
    const inf = report.influence;
    lines.push('## Over-sampling influence', '');
    lines.push(
      `Max ${inf.max}, mean ${inf.mean.toFixed(3)}; ${inf.recordsAboveOne} of ${report.records} records ` +
        `(${(100 * inf.shareAboveOne).toFixed(2)} %) influence more than one training example.`,
      '',
    );
    lines.push('| influence k | records |', '|---|---|');
    for (const row of inf.histogram) lines.push(`| ${row.influence} | ${row.records} |`);
    lines.push('');
  }

  lines.push('## Preprocessing', '');
  if (report.preprocessing.length === 0) lines.push('No preprocessing step before training.', '');
  else {
    lines.push('| step | treatment | detail |', '|---|---|---|');
    for (const step of report.preprocessing) lines.push(`| ${cell(step.name)} | ${step.treatment} | ${cell(step.description)} |`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
