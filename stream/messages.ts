// The scorer's messages: the input topics decoded by the record contract (as ingest and the API read them), and the
// output records: predictions, review cases, dead letters.
import type { KafkaMessage } from '../clients/kafka';
import {
  ADMITTED_HEADER,
  describeProblems,
  type FieldProblem,
  type LabelRecord,
  type RecordContract,
  type RecordDeclaration,
  type TxRecord,
} from '../records';
import type { LabelEvent, Refusal } from '../serving/online-features';
import type { PredictionRecord } from '../serving/prediction';
import type { StagedItem } from './intake';

/** Why an input message has no prediction: it breaks the record contract, or the online store refused it. */
export type RejectionKind = 'malformed' | Refusal;

export interface Rejection {
  kind: RejectionKind;
  reason: string;
  problems?: FieldProblem[];
  /** The message made safe to keep (RecordContract.scrub): null when it is not a JSON object. */
  value: Record<string, unknown> | null;
}

export interface TransactionValue {
  record?: TxRecord;
  /** A malformed message: why, and what of it may be kept. */
  rejected?: Rejection;
  /** Kafka timestamp of the input message (ms). */
  producedAt: number;
  /** False for a message whose output was already committed: it only rebuilds the state. */
  emit: boolean;
}

export interface LabelValue {
  label?: LabelEvent;
  rejected?: Rejection;
  /** False for a message whose output (a dead letter, for a malformed one) was already committed. */
  emit: boolean;
}

/** A prediction with what an investigator needs to look the case up (declared names: card, terminal, amount, time). */
export type ReviewRecord = PredictionRecord & {
  threshold: number;
  /** |score − threshold|: the smaller, the more an investigator's label teaches the model. */
  distance: number;
  /** 1 for the most uncertain case of its step. */
  rank: number;
  /** The scoring step the rank is relative to. */
  step: string;
};

/**
 * A review record as JSON text: its prediction's text (PredictionJsonWriter) with the review members appended. The
 * scorer writes one per uncertain case; JSON.stringify of an object keyed by the declared names costs several times more.
 */
export class ReviewMembers {
  private readonly keys: { customer: string; terminal: string; amount: string; time: string };

  constructor(declaration: RecordDeclaration) {
    const key = (name: string) => `,${JSON.stringify(name)}:`;
    this.keys = {
      customer: key(declaration.customer),
      terminal: key(declaration.terminal),
      amount: key(declaration.amount),
      time: key(declaration.time.column),
    };
  }

  /** `prediction`: the JSON text of the record's prediction. */
  append(prediction: string, review: Pick<ReviewRecord, 'threshold' | 'distance' | 'rank' | 'step'>, record: TxRecord): string {
    const k = this.keys;
    return (
      `${prediction.slice(0, -1)},"threshold":${review.threshold},"distance":${review.distance},"rank":${review.rank},"step":${JSON.stringify(review.step)}` +
      `${k.customer}${JSON.stringify(record.customer)}${k.terminal}${JSON.stringify(record.terminal)}` +
      `${k.amount}${record.amount}${k.time}${JSON.stringify(record.timeValue)}}`
    );
  }
}

/** True when fraudops' own producer published the message: its declared roles are pseudonyms already. */
function admitted(message: KafkaMessage): boolean {
  const header = message.headers?.[ADMITTED_HEADER];
  return header !== undefined && String(header) === '1';
}

/** The message value as JSON, or the rejection of a message that is not JSON. */
function decode(message: KafkaMessage): { value: unknown } | { rejected: Rejection } {
  try {
    return { value: JSON.parse(String(message.value)) };
  } catch {
    return { rejected: { kind: 'malformed', reason: 'the message is not JSON', value: null } };
  }
}

function malformed(contract: RecordContract, value: unknown, isAdmitted: boolean, problems: FieldProblem[]): Rejection {
  return { kind: 'malformed', reason: describeProblems(problems), problems, value: contract.scrub(value, isAdmitted) };
}

/**
 * A transactions-topic message as the intake stages it: merge key (event time, id), or the rejection. A record
 * timed after `maxKeyTime` (records.maxFuture past the wall clock: it will be refused) gets no key, as a malformed
 * message: ordered by it, its partition would wait behind it and everything after it there would arrive late.
 */
export function parseTransaction(
  contract: RecordContract,
  message: KafkaMessage,
  emitFrom: number,
  maxKeyTime = Number.POSITIVE_INFINITY,
): StagedItem<TransactionValue> {
  const offset = Number(message.offset);
  const base = { producedAt: Number(message.timestamp), emit: offset >= emitFrom };
  const decoded = decode(message);
  if ('rejected' in decoded) return { offset, value: { ...base, rejected: decoded.rejected } };
  const isAdmitted = admitted(message);
  // Carried columns are stored by ingest, never scored: the scorer does not read them.
  const read = contract.readTransaction(decoded.value, { labels: 'absent', admitted: isAdmitted, carried: false });
  if (!read.value) return { offset, value: { ...base, rejected: malformed(contract, decoded.value, isAdmitted, read.problems) } };
  const record = read.value;
  const key = record.time <= maxKeyTime ? { time: record.time, id: record.id } : undefined;
  return { offset, key, value: { ...base, record } };
}

/** A labels-topic message read by the record contract (id, card when present, label), or its rejection. */
export function readLabelMessage(contract: RecordContract, message: KafkaMessage): { label: LabelRecord } | { rejected: Rejection } {
  const decoded = decode(message);
  if ('rejected' in decoded) return decoded;
  const isAdmitted = admitted(message);
  const read = contract.readLabel(decoded.value, { admitted: isAdmitted });
  if (!read.value) return { rejected: malformed(contract, decoded.value, isAdmitted, read.problems) };
  return { label: read.value };
}

/** A labels-topic message: the label, or the rejection. */
export function parseLabel(contract: RecordContract, message: KafkaMessage, emitFrom: number): StagedItem<LabelValue> {
  const offset = Number(message.offset);
  const emit = offset >= emitFrom;
  const read = readLabelMessage(contract, message);
  if ('rejected' in read) return { offset, value: { emit, rejected: read.rejected } };
  return { offset, value: { emit, label: { transactionId: read.label.id, fraud: read.label.label } } };
}

export interface OutputRecord {
  topic: string;
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** Where an input message came from: `topic/partition/offset`. */
export const sourceOf = (entry: { topic: string; partition: number; offset: number }): string =>
  `${entry.topic}/${entry.partition}/${entry.offset}`;

/**
 * The dead letter of an input message without a prediction: the reason in the headers and the value, and the
 * message as it may be kept. Keyed by the transaction id when it was read, by the source otherwise.
 */
export function deadLetter(
  topic: string,
  entry: { topic: string; partition: number; offset: number },
  rejection: Rejection,
  id?: string,
): OutputRecord {
  const source = sourceOf(entry);
  const { kind, reason, problems, value } = rejection;
  return {
    topic,
    key: id ?? source,
    value: JSON.stringify({ origin: 'score-stream', source, kind, reason, ...(problems ? { problems } : {}), value }),
    headers: { origin: 'score-stream', source, kind, reason },
  };
}

/** Bytes per send: Kafka refuses a record batch above message.max.bytes (1 MiB by default). */
const SEND_BYTES = 900_000;

type SendMessage = Omit<OutputRecord, 'topic'>;

/** The records in sends of at most SEND_BYTES, each grouped by topic. */
export function* sendChunks(records: OutputRecord[]): Generator<{ topic: string; messages: SendMessage[] }[]> {
  let chunk = new Map<string, SendMessage[]>();
  let bytes = 0;
  const grouped = () => [...chunk].map(([topic, messages]) => ({ topic, messages }));
  for (const { topic, ...message } of records) {
    const size = message.key.length + message.value.length + (message.headers ? JSON.stringify(message.headers).length : 0);
    if (bytes + size > SEND_BYTES && chunk.size) {
      yield grouped();
      chunk = new Map();
      bytes = 0;
    }
    let messages = chunk.get(topic);
    if (!messages) {
      messages = [];
      chunk.set(topic, messages);
    }
    messages.push(message);
    bytes += size;
  }
  if (chunk.size) yield grouped();
}
