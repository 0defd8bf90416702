import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createKafka } from '../../clients/kafka';
import { loadConfig } from '../../config';

const config = loadConfig();
const kafka = createKafka(config, 'fraudops-test');
const topic = `smoke-${randomUUID()}`;
const TOTAL = 10_000;
const KEYS = 64;

describe('kafka (real broker)', () => {
  const admin = kafka.admin();
  before(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  });
  after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('produces 10 000 messages and consumes them back in per-partition order', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let start = 0; start < TOTAL; start += 1000) {
      const messages = Array.from({ length: 1000 }, (_, i) => {
        const seq = start + i;
        return { key: `k${seq % KEYS}`, value: JSON.stringify({ seq }) };
      });
      await producer.send({ topic, messages });
    }
    await producer.disconnect();

    const offsets = await admin.fetchTopicOffsets(topic);
    const total = offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
    assert.equal(total, TOTAL);
    assert.equal(offsets.filter((p) => Number(p.high) > 0).length, 3, 'keys spread over all partitions');

    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const lastOffset = new Map<number, bigint>();
    const lastSeqOfKey = new Map<string, number>();
    const keyPartition = new Map<string, number>();
    let received = 0;
    let outOfOrder = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${received} of ${TOTAL}`)), 60_000);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = BigInt(message.offset);
            if ((lastOffset.get(partition) ?? -1n) >= offset) outOfOrder += 1;
            lastOffset.set(partition, offset);
            const key = String(message.key);
            const { seq } = JSON.parse(String(message.value)) as { seq: number };
            if ((lastSeqOfKey.get(key) ?? -1) >= seq) outOfOrder += 1;
            lastSeqOfKey.set(key, seq);
            if ((keyPartition.get(key) ?? partition) !== partition) outOfOrder += 1;
            keyPartition.set(key, partition);
            received += 1;
            if (received === TOTAL) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await done;
    await consumer.disconnect();
    assert.equal(received, TOTAL);
    assert.equal(outOfOrder, 0);
    assert.equal(lastSeqOfKey.size, KEYS);
  });
});
