// Test helper: every message a topic holds now, read once from the beginning by a throw-away group.
import { randomUUID } from 'node:crypto';
import { type Kafka, partitionRanges } from '../../clients/kafka';

export interface ReadMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
}

export async function readTopic(kafka: Kafka, topic: string): Promise<ReadMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  const total = (await partitionRanges(admin, topic)).reduce((sum, p) => sum + p.high - p.low, 0);
  await admin.disconnect();
  const out: ReadMessage[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 250 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        out.push({ key: String(message.key), value: String(message.value), headers });
        if (out.length >= total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}
