// The only module that knows the Kafka wire client (kafkajs). Swap it here for
// @confluentinc/kafka-javascript if throughput calls for it (DESIGN §2).
import { type Admin, ConfigResourceTypes, type IHeaders, Kafka, type KafkaConfig, logLevel, Partitioners, type Producer } from 'kafkajs';
import { type Config, serviceHostOf } from '../config';
import { durationSeconds } from '../records/datetime';

export type { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';

/** The text of a message header (the first value when it repeats), or undefined. */
export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : String(first);
}

export function kafkaBrokers(config: Config): string[] {
  return [`${serviceHostOf(config, 'kafka')}:${config.stack.kafka.port}`];
}

export function createKafka(config: Config, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(config),
    logLevel: logLevel.WARN,
    connectionTimeout: 3000,
    ...overrides,
  });
}

/** True when the broker answers a metadata request and has a controller. */
export async function kafkaHealthy(config: Config): Promise<boolean> {
  const admin = createKafka(config, 'fraudops-health', { retry: { retries: 0 }, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** retention.ms per topic name: `topics` (role → name, e.g. config.topics) under config.topicRetention (role → duration). */
export function retentionByTopic(
  topics: Partial<Record<keyof Config['topicRetention'], string>>,
  retention: Config['topicRetention'],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, topic] of Object.entries(topics)) {
    const seconds = durationSeconds(retention[role as keyof Config['topicRetention']] ?? '');
    if (topic && Number.isFinite(seconds)) out[topic] = Math.round(seconds * 1000);
  }
  return out;
}

/**
 * Creates the topics that do not exist yet (idempotent), each with `partitions` partitions and, where `retentionMs`
 * names it, that retention.ms; a topic that exists with another retention.ms is brought to the named one (so a
 * changed config, or a topic created by the broker's defaults, ends up as configured).
 */
export async function ensureTopics(
  admin: Admin,
  topics: readonly string[],
  partitions: number,
  retentionMs: Record<string, number> = {},
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  if (missing.length) {
    await admin.createTopics({
      topics: missing.map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: 1,
        ...(retentionMs[topic] !== undefined ? { configEntries: [{ name: 'retention.ms', value: String(retentionMs[topic]) }] } : {}),
      })),
      waitForLeaders: true,
    });
  }
  const held = topics.filter((topic) => existing.has(topic) && retentionMs[topic] !== undefined);
  if (held.length) await alignRetention(admin, held, retentionMs);
}

async function alignRetention(admin: Admin, topics: readonly string[], retentionMs: Record<string, number>): Promise<void> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
  });
  const stale = resources.filter(
    (r) => r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue !== String(retentionMs[r.resourceName]),
  );
  if (!stale.length) return;
  // AlterConfigs sets a topic's whole dynamic config: fraudops' topics carry retention.ms only.
  await admin.alterConfigs({
    validateOnly: false,
    resources: stale.map((r) => ({
      type: ConfigResourceTypes.TOPIC,
      name: r.resourceName,
      configEntries: [{ name: 'retention.ms', value: String(retentionMs[r.resourceName]) }],
    })),
  });
}

/** Deletes every record of a topic's partitions below the given offsets (Kafka's DeleteRecords: the log start moves up). */
export async function deleteRecordsBefore(admin: Admin, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
  const partitions = [...offsets].map(([partition, offset]) => ({ partition, offset: String(offset) }));
  if (!partitions.length) return;
  // kafkajs finds the partitions' leaders in its metadata cache, which an admin fills only on request.
  await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.deleteTopicRecords({ topic, partitions });
}

export interface PartitionRange {
  partition: number;
  /** First offset still in the log. */
  low: number;
  /** The high-water mark: the offset the next message will get. */
  high: number;
}

/** Low and high-water marks of every partition of a topic, by partition number. */
export async function partitionRanges(admin: Admin, topic: string): Promise<PartitionRange[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets
    .map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high) }))
    .sort((a, b) => a.partition - b.partition);
}

/** The group's committed offset per partition of a topic (absent when it never committed there). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const committed = new Map<number, number>();
  for (const { partition, offset } of entry?.partitions ?? []) {
    if (Number(offset) >= 0) committed.set(partition, Number(offset));
  }
  return committed;
}

/** How long a group member may stay silent before the broker drops it (a crashed reader's slot frees after this). */
export const READER_SESSION_TIMEOUT_MS = 10_000;

/**
 * Waits until the consumer group has no live member (a second reader would split the partitions); a reader
 * that crashed leaves within READER_SESSION_TIMEOUT_MS. Throws KafkaGroupBusyError after `timeoutMs`.
 */
export async function waitForGroupIdle(admin: Admin, groupId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { groups } = await admin.describeGroups([groupId]);
    const state = groups[0]?.state ?? 'Dead';
    if (state === 'Empty' || state === 'Dead') return;
    if (Date.now() >= deadline) {
      throw new KafkaGroupBusyError(
        `consumer group ${groupId} is ${state} with ${groups[0].members.length} member(s) after waiting ${timeoutMs / 1000} s: is another reader running?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export class KafkaGroupBusyError extends Error {
  override name = 'KafkaGroupBusyError';
}

export interface OffsetRange {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

export interface BoundedReadOptions {
  groupId: string;
  ranges: readonly OffsetRange[];
  /** Called for every fetched message, possibly outside the ranges or twice: the caller filters. */
  onMessage: (
    topic: string,
    partition: number,
    offset: number,
    key: Buffer | null,
    value: Buffer | null,
    headers: IHeaders | undefined,
  ) => void;
  /** True once the caller has every message it needs. */
  isComplete: () => boolean;
  /** Error text when the read stalls: what is still missing. */
  describeMissing: () => string;
  stallTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A finished bounded read: the consumer stays in its group (paused) until `close`, so `commit` is immediate. */
export interface BoundedRead {
  /** Commits `to` of every range as the group's offsets. */
  commit(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Reads the given offset ranges through a group consumer without auto-commit: the caller commits when
 * its output is durable. Resolves when `isComplete()`; rejects after `stallTimeoutMs` without a new
 * message or when `signal` aborts.
 */
export async function readOffsetRanges(kafka: Kafka, options: BoundedReadOptions): Promise<BoundedRead> {
  const wanted = options.ranges.filter((r) => r.to > r.from);
  if (!wanted.length || options.isComplete()) return { commit: async () => undefined, close: async () => undefined };
  const topics = [...new Set(wanted.map((r) => r.topic))];
  const consumer = kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    maxBytes: 32 * 1024 * 1024,
    sessionTimeout: READER_SESSION_TIMEOUT_MS,
    heartbeatInterval: 1000,
    // A short fetch wait lets disconnect (which waits for the fetch in flight) return quickly once done.
    maxWaitTimeInMs: 250,
  });
  const close = () => consumer.disconnect().catch(() => undefined);
  let lastProgress = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    const finished = new Promise<void>((resolve, reject) => {
      const stallMs = options.stallTimeoutMs ?? 60_000;
      timer = setInterval(() => {
        if (options.isComplete()) resolve();
        else if (Date.now() - lastProgress > stallMs)
          reject(new Error(`read stalled for ${stallMs / 1000} s; missing ${options.describeMissing()}`));
      }, 200);
      onAbort = () => reject(options.signal?.reason ?? new Error('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch, heartbeat }) => {
            for (const m of batch.messages) options.onMessage(batch.topic, batch.partition, Number(m.offset), m.key, m.value, m.headers);
            if (batch.messages.length) lastProgress = Date.now();
            if (options.isComplete()) resolve();
            await heartbeat();
          },
        })
        .catch(reject);
    });
    for (const r of wanted) consumer.seek({ topic: r.topic, partition: r.partition, offset: String(r.from) });
    await finished;
    consumer.pause(topics.map((topic) => ({ topic })));
  } catch (err) {
    await close();
    throw err;
  } finally {
    if (timer) clearInterval(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
  }
  return {
    commit: () => consumer.commitOffsets(wanted.map((r) => ({ topic: r.topic, partition: r.partition, offset: String(r.to) }))),
    close,
  };
}

export interface OutgoingRecord {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** Publishes records with an idempotent producer, in batches, each acknowledged by all replicas. */
export async function publishRecords(kafka: Kafka, topic: string, records: readonly OutgoingRecord[], batchSize = 1000): Promise<void> {
  if (!records.length) return;
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += batchSize) {
      await producer.send({ topic, acks: -1, messages: records.slice(i, i + batchSize) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** A producer whose retries never duplicate a message (acks from all replicas, one request in flight). */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
}

/**
 * A transactional producer: what it sends in a transaction, and the consumer offsets it commits there, become
 * visible to read_committed readers together or not at all. One started with the same id aborts the open
 * transaction of a crashed predecessor.
 */
export function createTransactionalProducer(kafka: Kafka, transactionalId: string): Producer {
  return kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
}
