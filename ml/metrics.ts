// Evaluation metrics. ROC AUC, average precision and the curves follow scikit-learn's definitions exactly
// (tied scores form one threshold; curves in scikit-learn's order); card precision@k follows the handbook.

import { compareIds } from '../records/ids';
import { InvalidInputError } from './errors';

/** 0/1 labels and real-valued scores, one per example (plain arrays or typed arrays). */
export type Labels = ArrayLike<number>;
export type Scores = ArrayLike<number>;

/** Positives and negatives at each distinct score, taken as a threshold (score >= threshold is positive). */
export interface ThresholdCounts {
  /** Distinct scores, decreasing. */
  thresholds: Float64Array;
  /** True / false positives when predicting positive at score >= thresholds[i] (non-decreasing). */
  tps: Float64Array;
  fps: Float64Array;
  positives: number;
  negatives: number;
}

export interface RocCurve {
  /** Increasing; the first point is (0, 0) at threshold +Infinity, as in scikit-learn >= 1.3. */
  fpr: Float64Array;
  tpr: Float64Array;
  thresholds: Float64Array;
}

export interface PrCurve {
  /** scikit-learn's order: recall decreasing, ending with the point (recall 0, precision 1) that has no threshold. */
  precision: Float64Array;
  recall: Float64Array;
  /** Increasing; one fewer than precision and recall. */
  thresholds: Float64Array;
}

export interface FbetaPoint {
  threshold: number;
  fbeta: number;
  precision: number;
  recall: number;
}

/** Per distinct threshold (decreasing): precision, recall and F-beta when predicting score >= threshold. */
export interface ThresholdCurve {
  beta: number;
  thresholds: Float64Array;
  precision: Float64Array;
  recall: Float64Array;
  fbeta: Float64Array;
}

export interface ConfusionMatrix {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

function validate(labels: Labels, scores: Scores, needBothClasses: boolean): void {
  if (labels.length !== scores.length) {
    throw new InvalidInputError(`labels has ${labels.length} values and scores ${scores.length}: they must have the same length`);
  }
  if (labels.length === 0) throw new InvalidInputError('labels is empty: at least one example is needed');
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label !== 0 && label !== 1) throw new InvalidInputError(`labels[${i}] = ${label}: labels must be 0 or 1`);
    if (!Number.isFinite(scores[i])) throw new InvalidInputError(`scores[${i}] = ${scores[i]}: scores must be finite numbers`);
    positives += label;
  }
  if (needBothClasses && (positives === 0 || positives === labels.length)) {
    throw new InvalidInputError(
      `labels are all ${positives ? 1 : 0} (${labels.length} examples): this metric needs both classes (0 and 1)`,
    );
  }
}

/** scikit-learn's `_binary_clf_curve` / `confusion_matrix_at_thresholds`, without sample weights. */
export function countsAtThresholds(labels: Labels, scores: Scores): ThresholdCounts {
  validate(labels, scores, false);
  return counts(labels, scores);
}

function counts(labels: Labels, scores: Scores): ThresholdCounts {
  const n = scores.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Order within a group of tied scores does not matter: only the counts at the end of each group are kept.
  order.sort((a, b) => scores[b] - scores[a]);
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  for (let r = 0; r < n; r++) {
    tp += labels[order[r]];
    if (r === n - 1 || scores[order[r + 1]] !== scores[order[r]]) {
      thresholds.push(scores[order[r]]);
      tps.push(tp);
      fps.push(r + 1 - tp);
    }
  }
  return {
    thresholds: Float64Array.from(thresholds),
    tps: Float64Array.from(tps),
    fps: Float64Array.from(fps),
    positives: tp,
    negatives: n - tp,
  };
}

/** scikit-learn's `roc_curve` (drop_intermediate=True by default: collinear points are dropped). */
export function rocCurve(labels: Labels, scores: Scores, options: { dropIntermediate?: boolean } = {}): RocCurve {
  validate(labels, scores, true);
  const { thresholds, tps, fps, positives, negatives } = counts(labels, scores);
  const m = thresholds.length;
  const keep: number[] = [];
  for (let i = 0; i < m; i++) {
    const corner = i === 0 || i === m - 1 || fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0;
    if (corner || options.dropIntermediate === false) keep.push(i);
  }
  const fpr = new Float64Array(keep.length + 1);
  const tpr = new Float64Array(keep.length + 1);
  const kept = new Float64Array(keep.length + 1);
  kept[0] = Number.POSITIVE_INFINITY;
  keep.forEach((i, p) => {
    fpr[p + 1] = fps[i] / negatives;
    tpr[p + 1] = tps[i] / positives;
    kept[p + 1] = thresholds[i];
  });
  return { fpr, tpr, thresholds: kept };
}

/** Area by the trapezoidal rule (x non-decreasing), as scikit-learn's `auc`. */
function trapezoid(x: Float64Array, y: Float64Array): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

/** scikit-learn's `roc_auc_score` for binary labels. */
export function rocAuc(labels: Labels, scores: Scores): number {
  const { fpr, tpr } = rocCurve(labels, scores);
  return trapezoid(fpr, tpr);
}

/** scikit-learn's `precision_recall_curve` (drop_intermediate=False). */
export function precisionRecallCurve(labels: Labels, scores: Scores): PrCurve {
  validate(labels, scores, true);
  const { thresholds, tps, fps, positives } = counts(labels, scores);
  const m = thresholds.length;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const increasing = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const r = m - 1 - i;
    precision[i] = tps[r] / (tps[r] + fps[r]);
    recall[i] = tps[r] / positives;
    increasing[i] = thresholds[r];
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds: increasing };
}

/** scikit-learn's `average_precision_score`: Σ (R_n − R_{n−1}) P_n over thresholds, without interpolation. */
export function averagePrecision(labels: Labels, scores: Scores): number {
  const { precision, recall } = precisionRecallCurve(labels, scores);
  let sum = 0;
  for (let i = 0; i + 1 < recall.length; i++) sum += (recall[i + 1] - recall[i]) * precision[i];
  return Math.max(0, -sum);
}

function checkBeta(beta: number): void {
  if (!(Number.isFinite(beta) && beta > 0)) throw new InvalidInputError(`beta = ${beta}: beta must be a finite number > 0`);
}

/** Precision, recall and F-beta at every distinct score used as threshold (decreasing thresholds). */
export function thresholdCurve(labels: Labels, scores: Scores, beta = 2): ThresholdCurve {
  checkBeta(beta);
  validate(labels, scores, true);
  const { thresholds, tps, fps, positives } = counts(labels, scores);
  const m = thresholds.length;
  const precision = new Float64Array(m);
  const recall = new Float64Array(m);
  const fbeta = new Float64Array(m);
  const b2 = beta * beta;
  for (let i = 0; i < m; i++) {
    precision[i] = tps[i] / (tps[i] + fps[i]);
    recall[i] = tps[i] / positives;
    // scikit-learn's form: (1 + β²)·TP / (β²·(TP + FN) + (TP + FP)); 0 when TP = 0.
    fbeta[i] = ((1 + b2) * tps[i]) / (b2 * positives + tps[i] + fps[i]);
  }
  return { beta, thresholds, precision, recall, fbeta };
}

/**
 * The threshold (one of the scores; score >= threshold is positive) that maximises F-beta; among equal F-beta
 * the highest threshold wins (fewest alerts). Choose it on the validation split, then apply it to the test split.
 */
export function bestFbetaThreshold(labels: Labels, scores: Scores, beta = 2): FbetaPoint {
  const curve = thresholdCurve(labels, scores, beta);
  let best = 0;
  for (let i = 1; i < curve.thresholds.length; i++) if (curve.fbeta[i] > curve.fbeta[best]) best = i;
  return { threshold: curve.thresholds[best], fbeta: curve.fbeta[best], precision: curve.precision[best], recall: curve.recall[best] };
}

/** Confusion matrix when predicting positive at score >= threshold. */
export function confusionMatrix(labels: Labels, scores: Scores, threshold: number): ConfusionMatrix {
  validate(labels, scores, false);
  if (Number.isNaN(threshold)) throw new InvalidInputError('threshold = NaN: the threshold must be a number');
  const matrix = { threshold, tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const positive = scores[i] >= threshold;
    if (labels[i] === 1) positive ? matrix.tp++ : matrix.fn++;
    else positive ? matrix.fp++ : matrix.tn++;
  }
  return matrix;
}

/** One scored transaction for card precision@k. */
export interface CardScore {
  customerId: number | string;
  day: number;
  score: number;
  label: number;
}

export interface CardPrecisionDay {
  day: number;
  precision: number;
  /** Cards with a fraud on that day (after removing cards detected earlier). */
  compromised: number;
  /** Compromised cards among the top k. */
  detected: number;
}

export interface CardPrecision {
  k: number;
  /** Mean of the daily precisions. */
  mean: number;
  days: CardPrecisionDay[];
}

/**
 * The handbook's card precision@k: per day (increasing), each card's maximum score and maximum label, the k
 * cards with the highest scores, precision = compromised cards among them / k (k even when the day has fewer
 * cards); cards detected on a day (compromised and in the top k) are removed from the later days; the mean over
 * the days. Ties in score are broken by customer id (ascending) so the result is deterministic.
 */
export function cardPrecisionAtK(rows: readonly CardScore[], k = 100): CardPrecision {
  if (!Number.isInteger(k) || k < 1) throw new InvalidInputError(`k = ${k}: k must be a whole number >= 1`);
  if (rows.length === 0) throw new InvalidInputError('rows is empty: card precision@k needs scored transactions');
  const byDay = new Map<number, Map<number | string, { score: number; label: number }>>();
  rows.forEach((row, i) => {
    if (!Number.isInteger(row.day)) throw new InvalidInputError(`rows[${i}].day = ${row.day}: the day must be a whole number`);
    if (!Number.isFinite(row.score)) throw new InvalidInputError(`rows[${i}].score = ${row.score}: scores must be finite numbers`);
    if (row.label !== 0 && row.label !== 1) throw new InvalidInputError(`rows[${i}].label = ${row.label}: labels must be 0 or 1`);
    const cards = byDay.get(row.day) ?? new Map();
    byDay.set(row.day, cards);
    const card = cards.get(row.customerId);
    if (!card) cards.set(row.customerId, { score: row.score, label: row.label });
    else {
      card.score = Math.max(card.score, row.score);
      card.label = Math.max(card.label, row.label);
    }
  });
  const detectedBefore = new Set<number | string>();
  const days: CardPrecisionDay[] = [];
  for (const day of [...byDay.keys()].sort((a, b) => a - b)) {
    const cards = [...(byDay.get(day) ?? [])].filter(([id]) => !detectedBefore.has(id));
    cards.sort(([idA, a], [idB, b]) => b.score - a.score || compareIds(String(idA), String(idB)));
    const top = cards.slice(0, k).filter(([, card]) => card.label === 1);
    for (const [id] of top) detectedBefore.add(id);
    days.push({ day, precision: top.length / k, compromised: cards.filter(([, card]) => card.label === 1).length, detected: top.length });
  }
  return { k, mean: days.reduce((sum, d) => sum + d.precision, 0) / days.length, days };
}
