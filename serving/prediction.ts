// The prediction record: what the API answers and what the stream scorer writes to `fraud-predictions`, one type for
// both. The transaction id sits under the declared id field (records.id: TRANSACTION_ID by default), as a string.
import { FEATURE_NAMES } from '../ml/features';

export type Decision = 'fraud' | 'legit';

/** A score at or above the model's threshold is a fraud. */
export const decisionOf = (score: number, threshold: number): Decision => (score >= threshold ? 'fraud' : 'legit');

export interface PredictionFields {
  score: number;
  decision: Decision;
  /** The champion version that scored (absent in an API answer: the response names it once). */
  model_version?: string;
  /** The input values the score was computed from, by name (the model's feature set). */
  features: Record<string, number>;
  /** Present when the transaction was older than its card's or terminal's latest (within records.lateness). */
  late?: true;
  /** By how many event seconds it was late. */
  late_seconds?: number;
  /** The transaction's event time (epoch seconds), on the scorer's records: the day live quality counts it in. */
  event_time?: number;
}

/** A prediction as published: the declared id field holding the id, then the fields above. */
export type PredictionRecord = PredictionFields & Record<string, unknown>;

/** The record of one scored transaction, id first under its declared name. */
export function predictionRecord(idField: string, id: string | undefined, fields: PredictionFields): PredictionRecord {
  return id === undefined ? { ...fields } : ({ [idField]: id, ...fields } as PredictionRecord);
}

/** The `late` fields of a prediction: none for a transaction in time order. */
export function lateFields(lateSeconds: number | undefined): Pick<PredictionFields, 'late' | 'late_seconds'> {
  return lateSeconds === undefined ? {} : { late: true, late_seconds: lateSeconds };
}

/**
 * Writes prediction records as JSON text directly: the scorer writes thousands a step, and JSON.stringify of a fresh
 * object per record costs more. The text is JSON.stringify(predictionRecord(...)) of the same values (finite numbers).
 */
export class PredictionJsonWriter {
  private readonly head: string;
  /** The input names as JSON keys, ready to splice: `"TX_AMOUNT":`. */
  private readonly keys: string[];
  private version: string | undefined;
  private versionJson = 'null';

  constructor(
    readonly idField: string,
    readonly names: readonly string[] = FEATURE_NAMES,
  ) {
    this.head = `{${JSON.stringify(idField)}:`;
    this.keys = names.map((name) => `${JSON.stringify(name)}:`);
  }

  /**
   * One record: `features` holds the names' values from `offset`; `lateSeconds` only for a late transaction;
   * `eventTime` (epoch seconds) when known.
   */
  write(
    id: string,
    score: number,
    decision: Decision,
    modelVersion: string,
    features: ArrayLike<number>,
    offset: number,
    lateSeconds?: number,
    eventTime?: number,
  ): string {
    if (modelVersion !== this.version) {
      this.version = modelVersion;
      this.versionJson = JSON.stringify(modelVersion);
    }
    let out = `${this.head}${JSON.stringify(id)},"score":${score},"decision":"${decision}","model_version":${this.versionJson},"features":{`;
    const keys = this.keys;
    for (let j = 0; j < keys.length; j++) out += `${j ? ',' : ''}${keys[j]}${features[offset + j]}`;
    out += '}';
    if (lateSeconds !== undefined) out += `,"late":true,"late_seconds":${lateSeconds}`;
    if (eventTime !== undefined) out += `,"event_time":${eventTime}`;
    return `${out}}`;
  }
}

/** The input values of one row as the record's `features` object. */
export function featureObject(
  features: ArrayLike<number>,
  offset: number,
  names: readonly string[] = FEATURE_NAMES,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (let j = 0; j < names.length; j++) out[names[j]] = features[offset + j];
  return out;
}
