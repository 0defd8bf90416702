// Live model quality from joined (prediction, label) rows: per event day, model version and label source, the
// metrics the offline evaluation reports (ml/metrics.ts), plus the rates at the model's own threshold. Pure: the
// monitor (stream/quality.ts) and `fraudops model quality` read the rows and call this.
import { averagePrecision, cardPrecisionAtK, rocAuc } from '../ml/metrics';
import { formatTextTable } from '../observability/text-table';

/**
 * Where a label comes from. Chargebacks (the label topic) cover every transaction once they mature; analysts' reviews
 * cover the cases they looked at (flagged or uncertain ones) only, so their figures are counted apart and never mixed
 * with the chargebacks' (a precision over reviewed cases is not the model's precision).
 */
export const LABEL_SOURCES = ['chargeback', 'analyst'] as const;
export type LabelSource = (typeof LABEL_SOURCES)[number];

/** One prediction with its label. */
export interface JoinedRow {
  score: number;
  label: 0 | 1;
  /** The decision at the scoring model's threshold. */
  flagged: boolean;
  /** The card, when the label message carried it (card precision@k needs it). */
  customer?: string;
}

/** The rows of one event day (UTC, YYYY-MM-DD) for one version and source. */
export interface RowGroup {
  version: string;
  day: string;
  source: LabelSource;
  rows: JoinedRow[];
}

/** Predictions and alerts of one day and version, labelled or not (the alert rate needs no label). */
export interface PredictionCounts {
  version: string;
  day: string;
  predictions: number;
  alerts: number;
}

export interface QualityRow {
  day: string;
  version: string;
  source: LabelSource;
  /** Predictions joined with a label of this source. */
  labelled: number;
  positives: number;
  /** null when the day's labels are all of one class (AP and ROC AUC need both). */
  averagePrecision: number | null;
  rocAuc: number | null;
  /** The handbook's card precision@100 of the day (cards detected earlier by this version removed); null without cards. */
  cardPrecisionAt100: number | null;
  /** At the model's threshold, over the labelled rows: null when nothing was flagged, or no positive was labelled. */
  precision: number | null;
  recall: number | null;
  /** Flagged share of all the day's predictions by this version (labelled or not); null when none were counted. */
  alertRate: number | null;
  predictions: number;
}

export const CARD_K = 100;

const SECONDS_PER_DAY = 86_400;

/** The UTC day (YYYY-MM-DD) of an epoch-seconds time. */
export const dayOf = (seconds: number): string =>
  new Date(Math.floor(seconds / SECONDS_PER_DAY) * SECONDS_PER_DAY * 1000).toISOString().slice(0, 10);

const dayNumber = (day: string): number => Math.round(Date.parse(`${day}T00:00:00Z`) / 1000 / SECONDS_PER_DAY);

function bothClasses(rows: readonly JoinedRow[]): boolean {
  let positives = 0;
  for (const row of rows) positives += row.label;
  return positives > 0 && positives < rows.length;
}

/** AP and positives of rows, AP null unless both classes are present. */
export function averagePrecisionOf(rows: readonly JoinedRow[]): { averagePrecision: number | null; positives: number } {
  const positives = rows.reduce((sum, row) => sum + row.label, 0);
  if (!bothClasses(rows)) return { averagePrecision: null, positives };
  return {
    averagePrecision: averagePrecision(
      rows.map((r) => r.label),
      rows.map((r) => r.score),
    ),
    positives,
  };
}

/** Card precision@k per day of one version and source, in day order (the handbook removes cards detected earlier). */
function cardPrecisionByDay(groups: readonly RowGroup[]): Map<string, number> {
  const rows = groups.flatMap((group) =>
    group.rows.flatMap((row) =>
      row.customer === undefined ? [] : [{ customerId: row.customer, day: dayNumber(group.day), score: row.score, label: row.label }],
    ),
  );
  const out = new Map<string, number>();
  if (!rows.length) return out;
  const byNumber = new Map(groups.map((group) => [dayNumber(group.day), group.day]));
  for (const { day, precision } of cardPrecisionAtK(rows, CARD_K).days) out.set(byNumber.get(day) as string, precision);
  return out;
}

/** The table, one row per (day, version, source) that has labels, ordered by day, version, source. */
export function qualityTable(groups: readonly RowGroup[], counts: readonly PredictionCounts[]): QualityRow[] {
  const countOf = new Map(counts.map((c) => [`${c.version}|${c.day}`, c]));
  const series = new Map<string, RowGroup[]>();
  for (const group of groups) {
    if (!group.rows.length) continue;
    const key = `${group.version}|${group.source}`;
    series.set(key, [...(series.get(key) ?? []), group]);
  }
  const table: QualityRow[] = [];
  for (const list of series.values()) {
    const cards = cardPrecisionByDay(list);
    for (const { version, day, source, rows } of list) {
      const { averagePrecision: ap, positives } = averagePrecisionOf(rows);
      let tp = 0;
      let flagged = 0;
      for (const row of rows) {
        if (!row.flagged) continue;
        flagged += 1;
        tp += row.label;
      }
      const count = countOf.get(`${version}|${day}`);
      table.push({
        day,
        version,
        source,
        labelled: rows.length,
        positives,
        averagePrecision: ap,
        rocAuc: bothClasses(rows)
          ? rocAuc(
              rows.map((r) => r.label),
              rows.map((r) => r.score),
            )
          : null,
        cardPrecisionAt100: cards.get(day) ?? null,
        precision: flagged ? tp / flagged : null,
        recall: positives ? tp / positives : null,
        alertRate: count?.predictions ? count.alerts / count.predictions : null,
        predictions: count?.predictions ?? 0,
      });
    }
  }
  const order = (row: QualityRow) => [row.day, row.version.padStart(12, '0'), row.source].join('|');
  return table.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

export interface WindowQuality {
  version: string;
  source: LabelSource;
  /** The event days covered: the version's latest `days` days with labels. */
  from: string;
  to: string;
  labelled: number;
  positives: number;
  averagePrecision: number | null;
}

/** AP over a version's latest `days` labelled days of one source (the alert's and the rollback policy's figure). */
export function windowQuality(groups: readonly RowGroup[], version: string, source: LabelSource, days: number): WindowQuality | undefined {
  const own = groups.filter((g) => g.version === version && g.source === source && g.rows.length).sort((a, b) => (a.day < b.day ? -1 : 1));
  if (!own.length) return undefined;
  const last = dayNumber(own[own.length - 1].day);
  const inside = own.filter((g) => dayNumber(g.day) > last - days);
  const rows = inside.flatMap((g) => g.rows);
  return { version, source, from: inside[0].day, to: inside[inside.length - 1].day, labelled: rows.length, ...averagePrecisionOf(rows) };
}

const fixed = (value: number | null, digits = 3) => (value === null ? '-' : value.toFixed(digits));

/** The table as text, for `fraudops model quality`. */
export function formatQualityTable(rows: readonly QualityRow[]): string {
  const lines = [
    ['DAY', 'VERSION', 'SOURCE', 'LABELLED', 'FRAUDS', 'AP', 'ROC_AUC', 'CARD_P@100', 'PRECISION', 'RECALL', 'ALERT_RATE'],
    ...rows.map((r) => [
      r.day,
      r.version,
      r.source,
      String(r.labelled),
      String(r.positives),
      fixed(r.averagePrecision),
      fixed(r.rocAuc),
      fixed(r.cardPrecisionAt100),
      fixed(r.precision),
      fixed(r.recall),
      fixed(r.alertRate, 4),
    ]),
  ];
  return formatTextTable(lines);
}
