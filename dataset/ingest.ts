// Incremental ingest into the lake (dataset/lake.ts): read `transactions` and `transaction-labels` from where the
// lake's log ends up to the high-water marks seen at the start, read each message by the record contract, append
// the batch as date-partitioned Parquet (transactions by event day, labels in their own partitions) with its log
// entry last, send malformed messages (scrubbed) to the DLQ once per batch, and only then commit the group's offsets.
// Then the run's dataset: a content-addressed manifest of the files of the newest `windowDays` days (dataset/window.ts).
// A crash at any point loses nothing and repeats nothing: the next run starts where the log ends.
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
import {
  appendLakeBatch,
  checkpointLakeLog,
  isWindow,
  lakeFetcher,
  lakeKey,
  loadManifest,
  objectExists,
  readLakeLog,
  type SnapshotLocation,
  saveWindow,
  snapshotKey,
} from '../clients/snapshot-store';
import { ADMITTED_HEADER, type RecordContract } from '../records';
import { countReasons, SnapshotBuilder } from './builder';
import {
  batchId,
  dlqMarkerKey,
  encodeBatch,
  entriesUntil,
  isoDay,
  LAKE_BATCH_FORMAT,
  type LakeBatch,
  logEnd,
  planWindow,
  rejectsKey,
} from './lake';
import {
  declarationMismatch,
  encodeRejects,
  MANIFEST_FILE,
  type RejectedMessage,
  type SnapshotColumns,
  sha256Hex,
  type TopicSlice,
} from './snapshot';
import { readWindow, type WindowManifest, windowContent, windowHash } from './window';

export type IngestStart = 'earliest' | 'committed';

export interface IngestOptions {
  /** How messages are read (the config's `records:`); the lake's log records its declaration. */
  contract: RecordContract;
  topics: { transactions: string; labels: string; dlq: string };
  groupId: string;
  /** Where a new lake starts: earliest (everything still in the log) or the group's last commit. A lake with a log goes on from its end. */
  from: IngestStart;
  bucket: string;
  /** S3 prefix of the window manifests (the runs' datasets). */
  prefix: string;
  /** S3 prefix of the lake. */
  lake: string;
  /** The window: the lake's newest N event days. */
  windowDays: number;
  /** Partitions for topics that do not exist yet. */
  partitions: number;
  /** retention.ms by topic name for the topics ensured here (clients/kafka.ts retentionByTopic). */
  retentionMs?: Record<string, number>;
  /** Read no further than these offsets (per topic, indexed by partition) even when the log holds more; the window is the lake as of them. */
  until?: Record<string, number[]>;
  stallTimeoutMs?: number;
  /** How long to wait for another reader of the group (or a crashed one's session) to go (default: session timeout + 5 s). */
  groupWaitMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: IngestProgress) => void;
}

export interface IngestProgress {
  phase: 'read' | 'write' | 'dlq' | 'commit' | 'window';
  done: number;
  total: number;
}

export interface IngestResult {
  /** The window's manifest; null while the lake holds no transaction. */
  manifest: WindowManifest | null;
  location: SnapshotLocation | null;
  /** False when the window's manifest already existed (same files). */
  written: boolean;
  /** The window's rows when this run read them to count them (the next step may take them instead of reading again). */
  columns: SnapshotColumns | null;
  /** The batch this run appended to the lake; null when there was nothing new. */
  batch: LakeBatch | null;
  /** Next offset per topic and partition: where the lake ends in Kafka after this run. */
  lakeEnd: Record<string, number[]>;
  /** Messages sent to the DLQ by this run (0 when an earlier run already sent them). */
  dlqPublished: number;
  seconds: { read: number; write: number; window: number; total: number };
}

/** Where the lake's log ends, per partition; a new lake starts at `from`. Messages retention deleted unread are counted. */
async function readSlices(
  admin: Parameters<typeof partitionRanges>[0],
  options: IngestOptions,
  log: readonly LakeBatch[],
): Promise<{ sources: { transactions: TopicSlice; labels: TopicSlice }; lost: Record<string, number> }> {
  const lost: Record<string, number> = {};
  const slice = async (topic: string): Promise<TopicSlice> => {
    const ranges = await partitionRanges(admin, topic);
    const start = log.length
      ? logEnd(log, topic)
      : options.from === 'committed'
        ? await committedOffsets(admin, options.groupId, topic)
        : new Map<number, number>();
    return {
      topic,
      partitions: ranges.map(({ partition, low, high }) => {
        const wanted = start.get(partition) ?? low;
        if (wanted < low) lost[topic] = (lost[topic] ?? 0) + low - wanted;
        const from = Math.max(low, wanted);
        // Never below where the lake ends: a later batch would read those offsets again.
        return { partition, from, to: Math.max(from, Math.min(high, options.until?.[topic]?.[partition] ?? high)) };
      }),
    };
  };
  // Labels first: a label is published after its transaction, so every label below the labels' mark has its
  // transaction below the transactions' mark read an instant later.
  const labels = await slice(options.topics.labels);
  const transactions = await slice(options.topics.transactions);
  return { sources: { transactions, labels }, lost };
}

/** A lake is one pair of topics under one declaration: another is refused, naming what differs. */
function checkLake(log: readonly LakeBatch[], options: IngestOptions): void {
  const last = log[log.length - 1];
  if (!last) return;
  const held = [last.sources.transactions.topic, last.sources.labels.topic];
  const wanted = [options.topics.transactions, options.topics.labels];
  if (held.join() !== wanted.join())
    throw new Error(
      `lake ${options.lake} holds topics ${held.join(' + ')}; this ingest reads ${wanted.join(' + ')}: give it a lake of its own`,
    );
  const mismatch = declarationMismatch(last.declaration, options.contract.declaration);
  if (mismatch)
    throw new Error(`lake ${options.lake} was written under another records: declaration (${mismatch}); give it a lake of its own`);
}

const ranges = (slice: TopicSlice): OffsetRange[] => slice.partitions.map((p) => ({ topic: slice.topic, ...p }));

function dlqRecords(rejects: readonly RejectedMessage[], batch: string) {
  return rejects.map((r) => ({
    key: `${r.topic}/${r.partition}/${r.offset}`,
    value: JSON.stringify({ ...r, batch }),
    headers: { reason: r.reason, source: `${r.topic}/${r.partition}/${r.offset}` },
  }));
}

/** Brings the group's committed offsets to where the lake ends (after a crash between the log entry and the commit). */
async function alignCommitted(admin: Parameters<typeof partitionRanges>[0], groupId: string, ends: Record<string, number[]>) {
  for (const [topic, offsets] of Object.entries(ends)) {
    const committed = await committedOffsets(admin, groupId, topic);
    if (offsets.every((offset, partition) => committed.get(partition) === offset)) continue;
    await admin.setOffsets({ groupId, topic, partitions: offsets.map((offset, partition) => ({ partition, offset: String(offset) })) });
  }
}

export async function ingest(deps: { kafka: Kafka; s3: S3 }, options: IngestOptions): Promise<IngestResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const { s3 } = deps;
  const admin = deps.kafka.admin();
  await admin.connect();
  let read: BoundedRead | undefined;
  try {
    const { transactions: txTopic, labels: labelTopic, dlq } = options.topics;
    await ensureTopics(admin, [txTopic, labelTopic, dlq], options.partitions, options.retentionMs);
    await waitForGroupIdle(admin, options.groupId, options.groupWaitMs ?? READER_SESSION_TIMEOUT_MS + 5000);
    let log = await readLakeLog(s3, options.bucket, options.lake);
    checkLake(log, options);
    const { sources, lost } = await readSlices(admin, options, log);
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

    let batch: LakeBatch | null = null;
    if (builder.total > 0 || Object.keys(lost).length) {
      const parts = builder.parts();
      const seq = log.length;
      const id = batchId(sources);
      const days = parts.transactions.rows ? [isoDay(parts.transactions.timestamp[parts.transactions.rows - 1])] : [];
      const previous = log[log.length - 1]?.newestDay;
      const newestDay =
        [previous, ...days]
          .filter((d): d is string => !!d)
          .sort()
          .pop() ?? null;
      // Labels before any transaction have no day yet: the first day there is keeps them in every window's reach.
      const { files, bytes } = encodeBatch(seq, id, parts, options.contract.declaration, newestDay ?? '0000-01-01');
      const rejectsData = encodeRejects(parts.rejects);
      const rejectsPath = rejectsKey(seq, id);
      bytes[rejectsPath] = rejectsData;
      batch = {
        format: LAKE_BATCH_FORMAT,
        seq,
        id,
        sources,
        ...(Object.keys(lost).length ? { lost } : {}),
        declaration: options.contract.declaration,
        newestDay,
        files,
        rejects: { path: rejectsPath, sha256: sha256Hex(rejectsData), bytes: rejectsData.byteLength, ...countReasons(parts.rejects) },
        createdAt: new Date().toISOString(),
      };
      progress({ phase: 'write', done: 0, total: Object.keys(bytes).length + 1 });
      await appendLakeBatch(s3, options.bucket, options.lake, batch, bytes, (done, total) => progress({ phase: 'write', done, total }));
      log = [...log, batch];
      await checkpointLakeLog(s3, options.bucket, options.lake, log);
    }
    const writeDone = performance.now();

    // The marker makes the DLQ step happen once per batch even when a crash repeats the run.
    let dlqPublished = 0;
    const last = log[log.length - 1];
    const marker = last && lakeKey(options.lake, dlqMarkerKey(last.seq));
    if (last?.rejects.total && !(await objectExists(s3, options.bucket, marker))) {
      const rejects = await lakeFetcher(s3, options.bucket, options.lake)({ ...last.rejects, kind: 'labels', date: '', rows: 0 });
      const records = Buffer.from(rejects)
        .toString('utf8')
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as RejectedMessage);
      progress({ phase: 'dlq', done: 0, total: records.length });
      await publishRecords(deps.kafka, dlq, dlqRecords(records, last.id));
      dlqPublished = records.length;
      await s3.putObject(options.bucket, marker, Buffer.from(`${records.length}\n`));
      progress({ phase: 'dlq', done: records.length, total: records.length });
    }

    progress({ phase: 'commit', done: 0, total: 1 });
    await read.commit();
    await read.close();
    read = undefined;
    const lakeEnd = Object.fromEntries([txTopic, labelTopic].map((topic) => [topic, [...logEnd(log, topic).values()]]));
    if (log.length) await alignCommitted(admin, options.groupId, lakeEnd);
    progress({ phase: 'commit', done: 1, total: 1 });

    const window = await datasetOf(s3, options, entriesUntil(log, options.until), progress);
    const done = performance.now();
    return {
      ...window,
      batch,
      lakeEnd,
      dlqPublished,
      seconds: {
        read: (readDone - started) / 1000,
        write: (writeDone - readDone) / 1000,
        window: window.seconds,
        total: (done - started) / 1000,
      },
    };
  } finally {
    await read?.close();
    await admin.disconnect();
  }
}

/** The run's dataset: the window's manifest, written (after reading the window to count it) unless it exists. */
async function datasetOf(
  s3: S3,
  options: IngestOptions,
  entries: LakeBatch[],
  progress: (p: IngestProgress) => void,
): Promise<Pick<IngestResult, 'manifest' | 'location' | 'written' | 'columns'> & { seconds: number }> {
  const started = performance.now();
  const plan = planWindow(entries, options.windowDays);
  if (!plan) return { manifest: null, location: null, written: false, columns: null, seconds: 0 };
  progress({ phase: 'window', done: 0, total: plan.files.length });
  const declaration = options.contract.declaration;
  const content = windowContent(options.lake, declaration, plan);
  const sha256 = windowHash(content);
  const location = { bucket: options.bucket, prefix: options.prefix, sha256 };
  let manifest: WindowManifest | undefined;
  let columns: SnapshotColumns | null = null;
  let written = false;
  if (await objectExists(s3, options.bucket, snapshotKey(location, MANIFEST_FILE))) {
    const existing = await loadManifest(s3, location);
    if (isWindow(existing)) manifest = existing;
  }
  if (!manifest) {
    const read = await readWindow(plan.files, declaration, lakeFetcher(s3, options.bucket, options.lake));
    columns = read.columns;
    manifest = { ...content, ...read.counts, sha256, createdAt: new Date().toISOString() };
    written = await saveWindow(s3, location, manifest);
  }
  progress({ phase: 'window', done: plan.files.length, total: plan.files.length });
  return { manifest, location, written, columns, seconds: (performance.now() - started) / 1000 };
}
