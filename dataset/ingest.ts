// Bounded ingest: read `transactions` and `transaction-labels` up to the high-water marks seen at the start,
// read each message by the record contract, join the labels, write a content-addressed snapshot to S3, send
// malformed messages (scrubbed) to the DLQ, and only then commit the group's offsets. Running again over the
// same offsets gives the same snapshot id and writes nothing; a crash at any point loses nothing, because
// nothing is committed before it is durable.
import {
  type BoundedRead,
  committedOffsets,
  ensureTopics,
  headerText,
  type Kafka,
  type OffsetRange,
  partitionRanges,
  publishRecords,
  READER_SESSION_TIMEOUT_MS,
  readOffsetRanges,
  waitForGroupIdle,
} from '../clients/kafka';
import type { S3 } from '../clients/s3';
import { loadManifest, objectExists, type SnapshotLocation, saveSnapshot, snapshotKey } from '../clients/snapshot-store';
import { ADMITTED_HEADER, type RecordContract } from '../records';
import { SnapshotBuilder } from './builder';
import {
  contentHash,
  DATA_FILE,
  encodeColumns,
  encodeRejects,
  REJECTS_FILE,
  type RejectedMessage,
  SNAPSHOT_FORMAT,
  type SnapshotContent,
  type SnapshotManifest,
  sha256Hex,
  type TopicSlice,
} from './snapshot';

export type IngestStart = 'earliest' | 'committed';

export interface IngestOptions {
  /** How messages are read (the config's `records:`); the snapshot records its declaration. */
  contract: RecordContract;
  topics: { transactions: string; labels: string; dlq: string };
  groupId: string;
  /** earliest: everything still in the log (a full, reproducible snapshot); committed: from the group's last commit. */
  from: IngestStart;
  bucket: string;
  prefix: string;
  /** Partitions for topics that do not exist yet. */
  partitions: number;
  /** Read no further than these offsets (per topic, indexed by partition) even when the log holds more. */
  until?: Record<string, number[]>;
  stallTimeoutMs?: number;
  /** How long to wait for another reader of the group (or a crashed one's session) to go (default: session timeout + 5 s). */
  groupWaitMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: IngestProgress) => void;
}

export interface IngestProgress {
  phase: 'read' | 'write' | 'dlq' | 'commit';
  done: number;
  total: number;
}

export interface IngestResult {
  manifest: SnapshotManifest;
  location: SnapshotLocation;
  /** False when the snapshot already existed (same offsets, same content). */
  written: boolean;
  /** Messages sent to the DLQ by this run (0 when an earlier run already sent them). */
  dlqPublished: number;
  seconds: { read: number; write: number; total: number };
}

const DLQ_MARKER = 'dlq-published';

async function readSlices(
  admin: Parameters<typeof partitionRanges>[0],
  options: IngestOptions,
): Promise<{ transactions: TopicSlice; labels: TopicSlice }> {
  const slice = async (topic: string): Promise<TopicSlice> => {
    const ranges = await partitionRanges(admin, topic);
    const committed = options.from === 'committed' ? await committedOffsets(admin, options.groupId, topic) : new Map<number, number>();
    return {
      topic,
      partitions: ranges.map(({ partition, low, high }) => {
        const to = Math.max(low, Math.min(high, options.until?.[topic]?.[partition] ?? high));
        return { partition, from: Math.min(to, Math.max(low, committed.get(partition) ?? low)), to };
      }),
    };
  };
  // Labels first: a label is published after its transaction, so every label below the labels' mark has its
  // transaction below the transactions' mark read an instant later.
  const labels = await slice(options.topics.labels);
  const transactions = await slice(options.topics.transactions);
  return { transactions, labels };
}

const ranges = (slice: TopicSlice): OffsetRange[] => slice.partitions.map((p) => ({ topic: slice.topic, ...p }));

function dlqRecords(rejects: readonly RejectedMessage[], snapshot: string) {
  return rejects.map((r) => ({
    key: `${r.topic}/${r.partition}/${r.offset}`,
    value: JSON.stringify({ ...r, snapshot }),
    headers: { reason: r.reason, source: `${r.topic}/${r.partition}/${r.offset}` },
  }));
}

export async function ingest(deps: { kafka: Kafka; s3: S3 }, options: IngestOptions): Promise<IngestResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const admin = deps.kafka.admin();
  await admin.connect();
  let read: BoundedRead | undefined;
  try {
    const { transactions: txTopic, labels: labelTopic, dlq } = options.topics;
    await ensureTopics(admin, [txTopic, labelTopic, dlq], options.partitions);
    await waitForGroupIdle(admin, options.groupId, options.groupWaitMs ?? READER_SESSION_TIMEOUT_MS + 5000);
    const sources = await readSlices(admin, options);
    const builder = new SnapshotBuilder(sources, options.contract);

    let reported = 0;
    progress({ phase: 'read', done: 0, total: builder.total });
    read = await readOffsetRanges(deps.kafka, {
      groupId: options.groupId,
      ranges: [...ranges(sources.transactions), ...ranges(sources.labels)],
      onMessage: (topic, partition, offset, key, value, headers) => {
        const admitted = headerText(headers, ADMITTED_HEADER) === '1';
        if (topic === txTopic) builder.addTransaction(partition, offset, key, value, admitted);
        else builder.addLabel(partition, offset, key, value, admitted);
        if (builder.received - reported >= 10_000) {
          reported = builder.received;
          progress({ phase: 'read', done: reported, total: builder.total });
        }
      },
      isComplete: () => builder.complete,
      describeMissing: () => builder.missing().join('; '),
      stallTimeoutMs: options.stallTimeoutMs,
      signal: options.signal,
    });
    progress({ phase: 'read', done: builder.received, total: builder.total });
    const readDone = performance.now();

    progress({ phase: 'write', done: 0, total: 1 });
    const { columns, rejects, content: counts } = builder.build();
    const parquet = encodeColumns(columns, options.contract.declaration);
    const files = { [DATA_FILE]: parquet.data, [REJECTS_FILE]: encodeRejects(rejects) };
    const content: SnapshotContent = {
      format: SNAPSHOT_FORMAT,
      schema: parquet.schema,
      ...counts,
      files: Object.fromEntries(Object.entries(files).map(([name, data]) => [name, { sha256: sha256Hex(data), bytes: data.byteLength }])),
    };
    const sha256 = contentHash(content);
    const manifest: SnapshotManifest = { ...content, sha256, createdAt: new Date().toISOString() };
    const location = { bucket: options.bucket, prefix: options.prefix, sha256 };
    const written = await saveSnapshot(deps.s3, location, manifest, files);
    progress({ phase: 'write', done: 1, total: 1 });
    const writeDone = performance.now();

    // The marker makes the DLQ step happen once per snapshot even when a crash repeats the run.
    let dlqPublished = 0;
    const marker = snapshotKey(location, DLQ_MARKER);
    if (rejects.length && !(await objectExists(deps.s3, options.bucket, marker))) {
      progress({ phase: 'dlq', done: 0, total: rejects.length });
      await publishRecords(deps.kafka, dlq, dlqRecords(rejects, sha256));
      dlqPublished = rejects.length;
      await deps.s3.putObject(options.bucket, marker, Buffer.from(`${rejects.length}\n`));
      progress({ phase: 'dlq', done: rejects.length, total: rejects.length });
    }

    progress({ phase: 'commit', done: 0, total: 1 });
    await read.commit();
    progress({ phase: 'commit', done: 1, total: 1 });
    const done = performance.now();
    return {
      manifest: written ? manifest : await loadManifest(deps.s3, location),
      location,
      written,
      dlqPublished,
      seconds: { read: (readDone - started) / 1000, write: (writeDone - readDone) / 1000, total: (done - started) / 1000 },
    };
  } finally {
    await read?.close();
    await admin.disconnect();
  }
}
