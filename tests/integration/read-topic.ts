// Test and benchmark helper: every committed message of a topic up to its current end, read by a throw-away group
// (isolation read_committed, as a downstream reader), from the beginning or from given offsets.
import { randomUUID } from 'node:crypto';
import { type Kafka, partitionRanges } from '../../clients/kafka';

export interface ReadMessage {
  partition: number;
  offset: number;
  /** Kafka timestamp, ms. */
  timestamp: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** `from`: partition → first offset to read (default: the beginning). */
export async function readTopic(kafka: Kafka, topic: string, from: ReadonlyMap<number, number> = new Map()): Promise<ReadMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await partitionRanges(admin, topic)).map((p) => [p.partition, p.high]));
  await admin.disconnect();
  const pending = new Set([...ends].filter(([p, high]) => high > (from.get(p) ?? 0)).map(([p]) => p));
  const out: ReadMessage[] = [];
  if (!pending.size) return out;
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  // Aborted records and transaction markers take offsets too: a partition is done once a batch ends at its end.
  const finished = new Promise<void>((resolve) => {
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (Number(payload.lastOffset) + 1 >= (ends.get(payload.partition) ?? 0)) pending.delete(payload.partition);
      if (!pending.size) resolve();
    });
  });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) {
        out.push({
          partition: batch.partition,
          offset: Number(m.offset),
          timestamp: Number(m.timestamp),
          key: String(m.key),
          value: String(m.value),
          headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
      }
    },
  });
  for (const [partition, offset] of from) consumer.seek({ topic, partition, offset: String(offset) });
  await finished;
  await consumer.disconnect();
  return out;
}
