// The scorer's messages: decoding the input topics (schema-checked, as ingest does), and writing the output records.
import type { KafkaMessage } from '../clients/kafka';
import { FEATURE_COUNT, FEATURE_NAMES, type FeatureInput } from '../ml/features';
import { checkLabel, checkTransaction, describeProblems, featureInputOf } from '../simulator/schema';
import type { StagedItem } from './intake';
import type { LabelEvent } from './online-features';

export interface TransactionValue {
  tx?: FeatureInput;
  problem?: string;
  /** Kafka timestamp of the input message (ms). */
  producedAt: number;
  /** False for a message whose output was already committed: it only rebuilds the state. */
  emit: boolean;
}

export interface LabelValue {
  label?: LabelEvent;
  problem?: string;
}

export interface PredictionRecord {
  TRANSACTION_ID: number;
  score: number;
  decision: 'fraud' | 'legit';
  model_version: string;
  features: Record<string, number>;
}

export interface ReviewRecord extends PredictionRecord {
  threshold: number;
  /** |score − threshold|: the smaller, the more an investigator's label teaches the model. */
  distance: number;
  /** 1 for the most uncertain case of its step. */
  rank: number;
  /** The scoring step the rank is relative to. */
  step: string;
  CUSTOMER_ID: number;
  TERMINAL_ID: number;
  TX_AMOUNT: number;
  TX_DATETIME: number;
}

/** A transactions-topic message as the intake stages it: merge key (TX_DATETIME, TRANSACTION_ID), or the problem. */
export function parseTransaction(message: KafkaMessage, emitFrom: number): StagedItem<TransactionValue> {
  const offset = Number(message.offset);
  const base = { producedAt: Number(message.timestamp), emit: offset >= emitFrom };
  let decoded: unknown;
  try {
    decoded = JSON.parse(String(message.value));
  } catch {
    return { offset, value: { ...base, problem: 'the message is not JSON' } };
  }
  const checked = checkTransaction(decoded);
  if (!checked.record) return { offset, value: { ...base, problem: describeProblems(checked.problems) } };
  const r = checked.record;
  const tx = featureInputOf(r);
  return { offset, key: { time: tx.timestamp, id: tx.transactionId }, value: { ...base, tx } };
}

/** A labels-topic message: the label, or the problem. */
export function parseLabel(message: KafkaMessage): LabelValue {
  let decoded: unknown;
  try {
    decoded = JSON.parse(String(message.value));
  } catch {
    return { problem: 'the message is not JSON' };
  }
  const checked = checkLabel(decoded);
  if (!checked.label) return { problem: describeProblems(checked.problems) };
  return { label: { transactionId: checked.label.TRANSACTION_ID, fraud: checked.label.TX_FRAUD } };
}

/** FEATURE_NAMES as JSON keys, ready to splice: `"TX_AMOUNT":`. */
const FEATURE_KEYS = FEATURE_NAMES.map((name) => `${JSON.stringify(name)}:`);

/** The prediction record's JSON, written directly (JSON.stringify of a fresh object per record costs more). */
export function predictionJson(
  id: number,
  score: number,
  decision: string,
  versionJson: string,
  rows: Float64Array,
  offset: number,
): string {
  let out = `{"TRANSACTION_ID":${id},"score":${score},"decision":"${decision}","model_version":${versionJson},"features":{`;
  for (let j = 0; j < FEATURE_COUNT; j++) out += `${j ? ',' : ''}${FEATURE_KEYS[j]}${rows[offset + j]}`;
  return `${out}}}`;
}

export interface OutputRecord {
  topic: string;
  key: string;
  value: string;
}

/** Bytes per send: Kafka refuses a record batch above message.max.bytes (1 MiB by default). */
const SEND_BYTES = 900_000;

/** The records in sends of at most SEND_BYTES, each grouped by topic. */
export function* sendChunks(records: OutputRecord[]): Generator<{ topic: string; messages: { key: string; value: string }[] }[]> {
  let chunk = new Map<string, { key: string; value: string }[]>();
  let bytes = 0;
  const grouped = () => [...chunk].map(([topic, messages]) => ({ topic, messages }));
  for (const { topic, key, value } of records) {
    if (bytes + value.length > SEND_BYTES && chunk.size) {
      yield grouped();
      chunk = new Map();
      bytes = 0;
    }
    let messages = chunk.get(topic);
    if (!messages) {
      messages = [];
      chunk.set(topic, messages);
    }
    messages.push({ key, value });
    bytes += key.length + value.length;
  }
  if (chunk.size) yield grouped();
}
