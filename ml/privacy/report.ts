// The privacy report of a trained model (DESIGN §6): what the (ε, δ) of DP-SGD covers and, as plainly, what it
// does not. Every sentence is built from the numbers given; nothing is claimed that they do not support.

import type { PrivacySpent } from '../dpsgd/types';
import { InvalidInputError } from '../errors';
import { checkParam } from './params';

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

export interface PrivacyReportInput {
  /** What DP-SGD spent, or null when training was not differentially private. */
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
  /** True when the per-record (ε, δ) holds for the training records of the released model; `reasons` say why not. */
  covered: boolean;
  reasons: string[];
  training: PrivacySpent | null;
  records: number;
  /** 1/N: the per-record δ must be below it. */
  deltaLimit: number;
  perExample: { epsilon: number; delta: number; statement: string } | null;
  perRecord: GroupGuarantee | null;
  influence: InfluenceSummary | null;
  preprocessing: PreprocessingStep[];
  threshold: { value: number; split: string; insideBudget: false; statement: string } | null;
  /** What the guarantee does not cover, whatever the numbers. */
  notCovered: string[];
  /** The conditions the stated guarantees rest on. */
  assumptions: string[];
}

export const PRIVACY_REPORT_FORMAT = 'fraudops-privacy-report/1';

export const GROUP_PRIVACY_CITATION =
  'group privacy: an (ε, δ)-DP mechanism is (kε, k·e^{(k−1)ε}·δ)-DP for datasets differing in k examples ' +
  '(hybrid argument over k neighbouring datasets, δ·Σ_{i<k} e^{iε} ≤ k·e^{(k−1)ε}·δ; ' +
  'S. Vadhan, "The Complexity of Differential Privacy", 2017, Lemma 2.2; C. Dwork and A. Roth, ' +
  '"The Algorithmic Foundations of Differential Privacy", 2014, Theorem 2.2 for ε-DP)';

const fmtEps = (value: number): string => value.toPrecision(4);
const fmtDelta = (value: number): string => (value >= 1 ? '1 (vacuous)' : value.toExponential(2));

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

export function buildPrivacyReport(input: PrivacyReportInput): PrivacyReport {
  const { spent, records } = input;
  if (!(Number.isSafeInteger(records) && records >= 1)) throw new InvalidInputError(`records must be a whole number >= 1; got ${records}`);
  if (spent) checkSpent(spent);
  checkSteps(input);
  if (input.threshold && !Number.isFinite(input.threshold.value)) {
    throw new InvalidInputError(`threshold.value must be a finite number; got ${input.threshold.value}`);
  }

  const deltaLimit = 1 / records;
  const influence = input.influence ? summariseInfluence(input.influence, records) : null;
  const k = influence?.max ?? 1;
  const reasons: string[] = [];
  const assumptions: string[] = [
    'The unit of privacy is one training example: the 15 features and the label of one transaction. Neighbouring datasets differ by adding or removing one example (the relation of the Poisson-subsampled accountant).',
  ];
  if (spent) {
    assumptions.push(
      'DP-SGD ran as accounted: Poisson sampling at the stated rate, per-example gradients clipped to the stated norm, Gaussian noise of the stated multiplier on every step, and only the final model released.',
    );
  }

  let perExample: PrivacyReport['perExample'] = null;
  let perRecord: GroupGuarantee | null = null;
  if (!spent) {
    reasons.push('training is not differentially private (no DP-SGD): no (ε, δ) holds for any record');
  } else {
    perExample = {
      epsilon: spent.epsilon,
      delta: spent.delta,
      statement:
        `DP-SGD (${spent.accountant} accountant; noise multiplier σ = ${spent.noiseMultiplier}, sampling rate q = ${spent.samplingRate}, ` +
        `${spent.steps} steps, clipping norm C = ${spent.clipNorm}) is (ε = ${fmtEps(spent.epsilon)}, δ = ${fmtDelta(spent.delta)})-DP ` +
        'with respect to adding or removing one training example.',
    };
    const group = groupPrivacy(spent.epsilon, spent.delta, k);
    const statement =
      k === 1
        ? `Each training record is exactly one training example (${influence ? 'measured influence 1 for every record' : 'no over-sampling step'}), ` +
          `so the per-record guarantee equals the per-example one: (ε = ${fmtEps(group.epsilon)}, δ = ${fmtDelta(group.delta)}).`
        : `A training record influences up to k = ${k} training examples (itself and the synthetic rows made from it). By group privacy, ` +
          `training is (kε = ${fmtEps(group.epsilon)}, k·e^{(k−1)ε}·δ = ${fmtDelta(group.delta)})-DP with respect to those k examples of one record.`;
    perRecord = { groupSize: k, ...group, statement };
    if (group.delta >= deltaLimit) {
      reasons.push(
        `the per-record δ = ${fmtDelta(group.delta)} is not below 1/N = ${deltaLimit.toExponential(2)} (N = ${records} records)`,
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

  const notCovered = [
    'Hyperparameter tuning or model selection on the same records: every other training run on them composes with this one and is not accounted here.',
    'Records of the validation and test splits: metrics reported on them (and anything chosen with them) are computed without noise.',
    'A customer or card as a whole: a customer contributes many transactions, each a separate example; covering all of them would take group privacy over their number, which this report does not compute.',
    "A transaction's influence on the window features (customer and terminal aggregates over up to 30 days, terminal risk after the label delay) of other examples: only its own example is accounted.",
  ];
  if (threshold) notCovered.unshift(threshold.statement);

  return {
    format: PRIVACY_REPORT_FORMAT,
    covered: reasons.length === 0,
    reasons,
    training: spent ? { ...spent } : null,
    records,
    deltaLimit,
    perExample,
    perRecord,
    influence,
    preprocessing: input.preprocessing.map((step) => ({ ...step })),
    threshold,
    notCovered,
    assumptions,
  };
}

const cell = (text: string | number): string => String(text).replace(/\|/g, '\\|');

/** The report as Markdown, for people: the same facts as the JSON, nothing added. */
export function renderPrivacyReport(report: PrivacyReport): string {
  const lines: string[] = ['# Privacy report', ''];
  lines.push(
    report.covered
      ? `**Covered**: the per-record guarantee below holds for the ${report.records} training records (within the assumptions listed).`
      : '**NOT covered** by a differential-privacy guarantee:',
  );
  for (const reason of report.reasons) lines.push(`- ${reason}`);
  lines.push('');

  lines.push('## Guarantee', '');
  if (report.training && report.perExample && report.perRecord) {
    const t = report.training;
    lines.push('| quantity | value |', '|---|---|');
    lines.push(
      `| accountant | ${cell(t.accountant)} |`,
      `| noise multiplier σ | ${t.noiseMultiplier} |`,
      `| sampling rate q | ${t.samplingRate} |`,
    );
    lines.push(`| steps | ${t.steps} |`, `| clipping norm C | ${t.clipNorm} |`, `| training records N | ${report.records} |`);
    lines.push(`| per-example (ε, δ) | (${fmtEps(report.perExample.epsilon)}, ${fmtDelta(report.perExample.delta)}) |`);
    lines.push(`| group size k (max influence) | ${report.perRecord.groupSize} |`);
    lines.push(`| per-record (ε, δ) | (${fmtEps(report.perRecord.epsilon)}, ${fmtDelta(report.perRecord.delta)}) |`);
    lines.push(`| 1/N | ${report.deltaLimit.toExponential(2)} |`, '');
    lines.push(report.perExample.statement, '', report.perRecord.statement, '');
    if (report.perRecord.groupSize > 1) lines.push(`Bound: ${GROUP_PRIVACY_CITATION}.`, '');
  } else {
    lines.push('None: training was not differentially private.', '');
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

  lines.push('## Not covered', '');
  for (const item of report.notCovered) lines.push(`- ${item}`);
  lines.push('', '## Assumptions', '');
  for (const item of report.assumptions) lines.push(`- ${item}`);
  return `${lines.join('\n')}\n`;
}
