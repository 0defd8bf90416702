// The lake: what ingest appends, date-partitioned Parquet under one S3 prefix, and the log that says which files
// hold the data (docs/ARCHITECTURE.md "The lake").
//
//   <lake>/transactions/date=YYYY-MM-DD/part-<seq>-<batch>.parquet  a batch's transactions of that event day (UTC)
//   <lake>/labels/date=YYYY-MM-DD/part-<seq>-<batch>.parquet        a batch's labels; date: the lake's newest event day
//   <lake>/_rejects/part-<seq>-<batch>.ndjson                       a batch's malformed messages, scrubbed
//   <lake>/_log/<seq>.json                                          batch <seq>: its offsets and files (the commit)
//   <lake>/_checkpoint.json                                         the log's entries through some seq, in one object
//
// A batch reads offsets [from, to) of every partition of both topics, `from` being where the log ends, and is named
// by the sha256 of those ranges. Its files are written first, its log entry last: a file no entry lists is a crashed
// batch's and is never read (the next batch of the same seq overwrites or ignores it). Offsets are committed in Kafka
// after the entry, and the next batch starts where the log ends whatever Kafka says, so a crash anywhere neither loses
// nor repeats a row. A label goes to the date of the newest transaction day the lake holds once its batch is in
// (labels are published after their transaction), so the labels of the days from D on are in label dates >= D.
// The checkpoint, rewritten every CHECKPOINT_EVERY batches, only saves reading many small objects: the log entries
// stay the truth, so a missing or stale checkpoint costs time, never rows.
import { InvalidInputError } from '../ml/errors';
import type { RecordDeclaration } from '../records';
import {
  canonicalJson,
  encodeColumns,
  encodeLabels,
  type LabelColumns,
  type SnapshotColumns,
  sha256Hex,
  sliceColumns,
  type TopicSlice,
} from './snapshot';

export const LAKE_BATCH_FORMAT = 'fraudops-lake-batch/1';
export const LAKE_CHECKPOINT_FORMAT = 'fraudops-lake-checkpoint/1';
/** Batches between checkpoints: a reader fetches at most this many entries besides the checkpoint. */
export const CHECKPOINT_EVERY = 16;
export const WINDOW_FORMAT = 'fraudops-window/1';
const DAY_SECONDS = 86_400;

export type LakeFileKind = 'transactions' | 'labels';

export interface LakeFile {
  /** Key below the lake prefix. */
  path: string;
  kind: LakeFileKind;
  date: string;
  rows: number;
  sha256: string;
  bytes: number;
}

/** A log entry: one ingest batch. */
export interface LakeBatch {
  format: typeof LAKE_BATCH_FORMAT;
  seq: number;
  /** sha256 of the canonical sources: the batch's name. */
  id: string;
  sources: { transactions: TopicSlice; labels: TopicSlice };
  /** Messages retention deleted from Kafka before any batch read them, by topic (absent: none). */
  lost?: Record<string, number>;
  declaration: RecordDeclaration;
  /** The newest transaction day the lake holds with this batch, or null while it holds none. */
  newestDay: string | null;
  files: LakeFile[];
  rejects: { path: string; sha256: string; bytes: number; total: number; byReason: Record<string, number> };
  createdAt: string;
}

export const isoDay = (seconds: number) => new Date(Math.floor(seconds / DAY_SECONDS) * DAY_SECONDS * 1000).toISOString().slice(0, 10);
export const addDays = (day: string, days: number) => isoDay(Date.parse(`${day}T00:00:00Z`) / 1000 + days * DAY_SECONDS);

const pad = (seq: number) => String(seq).padStart(8, '0');
export const logKey = (seq: number) => `_log/${pad(seq)}.json`;
export const CHECKPOINT_KEY = '_checkpoint.json';
export const dlqMarkerKey = (seq: number) => `_log/${pad(seq)}.dlq`;
const partName = (seq: number, id: string) => `part-${pad(seq)}-${id.slice(0, 16)}`;
export const partKey = (kind: LakeFileKind, date: string, seq: number, id: string) => `${kind}/date=${date}/${partName(seq, id)}.parquet`;
export const rejectsKey = (seq: number, id: string) => `_rejects/${partName(seq, id)}.ndjson`;

export function batchId(sources: LakeBatch['sources']): string {
  return sha256Hex(canonicalJson(sources));
}

/** Rows [from, to) of each UTC day of time-sorted columns. */
export function dayRanges(columns: SnapshotColumns): Array<{ date: string; from: number; to: number }> {
  const out: Array<{ date: string; from: number; to: number }> = [];
  for (let row = 0; row < columns.rows; ) {
    const day = Math.floor(columns.timestamp[row] / DAY_SECONDS);
    let end = row + 1;
    while (end < columns.rows && Math.floor(columns.timestamp[end] / DAY_SECONDS) === day) end += 1;
    out.push({ date: isoDay(day * DAY_SECONDS), from: row, to: end });
    row = end;
  }
  return out;
}

/** Encodes a batch's files: each event day's transactions (time-sorted columns), and its labels under `labelDay`. */
export function encodeBatch(
  seq: number,
  id: string,
  parts: { transactions: SnapshotColumns; labels: LabelColumns },
  declaration: RecordDeclaration,
  labelDay: string,
): { files: LakeFile[]; bytes: Record<string, Uint8Array> } {
  const bytes: Record<string, Uint8Array> = {};
  const files: LakeFile[] = [];
  const add = (kind: LakeFileKind, date: string, rows: number, data: Uint8Array) => {
    const path = partKey(kind, date, seq, id);
    bytes[path] = data;
    files.push({ path, kind, date, rows, sha256: sha256Hex(data), bytes: data.byteLength });
  };
  for (const { date, from, to } of dayRanges(parts.transactions)) {
    add('transactions', date, to - from, encodeColumns(sliceColumns(parts.transactions, from, to), declaration, { labels: false }).data);
  }
  if (parts.labels.rows) add('labels', labelDay, parts.labels.rows, encodeLabels(parts.labels, declaration));
  return { files, bytes };
}

/** The log in order; a gap or a repeated seq (two writers on one lake) is an error naming it. */
export function checkLog(entries: LakeBatch[], lake: string): LakeBatch[] {
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  sorted.forEach((entry, i) => {
    if (entry.format !== LAKE_BATCH_FORMAT)
      throw new InvalidInputError(`lake ${lake}: log entry ${entry.seq} has format "${entry.format}", not ${LAKE_BATCH_FORMAT}`);
    if (entry.seq !== i)
      throw new InvalidInputError(
        `lake ${lake}: log entry ${i} is missing or repeated (found ${entry.seq}); one ingest writes a lake at a time`,
      );
  });
  return sorted;
}

/** The log's entries 0..through in one object (the log stays the truth; see the top of this file). */
export interface LakeCheckpoint {
  format: typeof LAKE_CHECKPOINT_FORMAT;
  through: number;
  entries: LakeBatch[];
}

/** Whether appending batch `seq` is the moment to rewrite the checkpoint. */
export const checkpointDue = (seq: number) => (seq + 1) % CHECKPOINT_EVERY === 0;

/** Where the log ends: the next offset per partition of a topic (empty when no batch read it). */
export function logEnd(entries: readonly LakeBatch[], topic: string): Map<number, number> {
  const last = entries[entries.length - 1];
  const slice = last && [last.sources.transactions, last.sources.labels].find((s) => s.topic === topic);
  return new Map((slice?.partitions ?? []).map((p) => [p.partition, p.to]));
}

/**
 * The log entries a run's window is taken from: all of them, or with `until` (end offsets per topic and partition,
 * from the run's trigger) the shortest prefix that reaches them, so that a retried run reads the same window even
 * after later batches arrived.
 */
export function entriesUntil(entries: readonly LakeBatch[], until?: Record<string, number[]>): LakeBatch[] {
  if (!until) return [...entries];
  const reaches = (entry: LakeBatch) =>
    [entry.sources.transactions, entry.sources.labels].every((slice) =>
      (until[slice.topic] ?? []).every((offset, partition) => (slice.partitions.find((p) => p.partition === partition)?.to ?? 0) >= offset),
    );
  const k = entries.findIndex(reaches);
  return k < 0 ? [...entries] : entries.slice(0, k + 1);
}

export interface WindowPlan {
  window: { from: string; to: string; days: number };
  /** Through which log entry. */
  through: number;
  /** The transaction files of the window's days, then the label files of dates from the window's first day on; each in log order. */
  files: LakeFile[];
  rejected: { total: number; byReason: Record<string, number> };
}

/** The files of the newest `days` event days of the lake as of `entries`; null while the lake holds no transaction. */
export function planWindow(entries: readonly LakeBatch[], days: number): WindowPlan | null {
  const last = entries[entries.length - 1];
  if (!last?.newestDay) return null;
  const to = last.newestDay;
  const from = addDays(to, 1 - days);
  const files: LakeFile[] = [];
  const byReason: Record<string, number> = {};
  let total = 0;
  for (const kind of ['transactions', 'labels'] as const) {
    for (const entry of entries) {
      const mine = entry.files.filter((f) => f.kind === kind && f.date >= from && (kind === 'labels' || f.date <= to));
      files.push(...mine);
      if (kind === 'transactions' && mine.length) {
        total += entry.rejects.total;
        for (const [reason, n] of Object.entries(entry.rejects.byReason)) byReason[reason] = (byReason[reason] ?? 0) + n;
      }
    }
  }
  return { window: { from, to, days }, through: last.seq, files, rejected: { total, byReason } };
}
