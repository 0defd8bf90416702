// The incremental lake on the real Kafka and S3: 60 days produced and ingested, the ingested records deleted from
// Kafka, 10 more days (with the first part's late labels) ingested through a crash between the lake's commit and
// Kafka's: the next training window, read from the lake, equals row for row the window computed from the source CSV.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConfigResourceTypes } from 'kafkajs';
import {
  committedOffsets,
  createIdempotentProducer,
  createKafka,
  deleteRecordsBefore,
  partitionRanges,
  retentionByTopic,
} from '../../clients/kafka';
import { createS3, ensureBucket, getObjectBuffer, listKeys } from '../../clients/s3';
import { appendLakeBatch, checkpointLakeLog, loadSnapshot, readLakeLog } from '../../clients/snapshot-store';
import { loadConfig } from '../../config';
import { type IngestOptions, type IngestResult, ingest } from '../../dataset/ingest';
import { addDays, CHECKPOINT_EVERY, CHECKPOINT_KEY, isoDay, LAKE_BATCH_FORMAT, type LakeBatch } from '../../dataset/lake';
import { columnsFromRecords } from '../../dataset/snapshot';
import { readTransactionsCsv, recordContract } from '../../records';
import { csvLines, publicationOrder, simulate } from '../../simulator';
import { CSV_HEADER } from '../../simulator/csv';

const config = loadConfig();
const kafka = createKafka(config, 'fraudops-test-lake');
const s3 = createS3(config);
const bucket = config.stack.s3.bucket;
const run = randomUUID().slice(0, 8);
const contract = recordContract(config);
const topics = { transactions: `lake-tx-${run}`, labels: `lake-labels-${run}`, dlq: `lake-dlq-${run}` };
const WINDOW_DAYS = 60;
const LABEL_DELAY_DAYS = 7;

const options: IngestOptions = {
  contract,
  topics,
  groupId: `lake-group-${run}`,
  from: 'earliest',
  bucket,
  prefix: `test-lakes/${run}/datasets`,
  lake: `test-lakes/${run}/lake`,
  windowDays: WINDOW_DAYS,
  partitions: 3,
  retentionMs: retentionByTopic(topics, config.topicRetention),
  stallTimeoutMs: 20_000,
};

// The source: a CSV file of 70 simulated days, read back by the record contract as any feed's would be.
const sim = simulate({ customers: 60, terminals: 120, days: 70, seed: 17 });
const csv = CSV_HEADER + csvLines(sim);
const records = [...readTransactionsCsv(csv, 'lake.csv', contract, 'required')];
const cut = Date.parse(`${addDays(isoDay(records[0].time), 60)}T00:00:00Z`) / 1000;

async function send(messages: ReturnType<typeof publicationOrder> extends Generator<infer M> ? M[] : never) {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  for (let i = 0; i < messages.length; i += 2000) {
    const batch = messages.slice(i, i + 2000);
    const of = (stream: 'transactions' | 'labels') =>
      batch.filter((m) => m.stream === stream).map(({ key, value }) => ({ key, value, headers: contract.admittedHeaders }));
    await producer.sendBatch({
      acks: -1,
      topicMessages: [
        { topic: topics.transactions, messages: of('transactions') },
        { topic: topics.labels, messages: of('labels') },
      ].filter((t) => t.messages.length),
    });
  }
  await producer.disconnect();
}

describe('the incremental lake (real Kafka + S3)', () => {
  // Event-time order: the first 60 days' transactions and the labels due by then; then the rest, the late labels included.
  const messages = [...publicationOrder(records, contract, LABEL_DELAY_DAYS)];
  const first = messages.filter((m) => m.time < cut);
  const rest = messages.filter((m) => m.time >= cut);
  let firstIngest: IngestResult;
  let last: IngestResult;

  before(async () => {
    await ensureBucket(config, s3);
    await send(first);
    firstIngest = await ingest({ kafka, s3 }, options);
  });

  it('creates the topics with the configured retention', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [topics.transactions, topics.labels].map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['retention.ms'],
      })),
    });
    await admin.disconnect();
    const expected = retentionByTopic(topics, config.topicRetention);
    for (const r of resources) assert.equal(r.configEntries[0]?.configValue, String(expected[r.resourceName]), r.resourceName);
    assert.equal(expected[topics.transactions], 14 * 86_400_000);
  });

  it('the first ingest partitions 60 days by event date', () => {
    const batch = firstIngest.batch;
    assert.ok(batch && firstIngest.manifest);
    const days = new Set(batch.files.filter((f) => f.kind === 'transactions').map((f) => f.date));
    assert.equal(days.size, 60);
    assert.ok(batch.files.every((f) => f.path.startsWith(`${f.kind}/date=${f.date}/part-00000000-`)));
    assert.equal(firstIngest.manifest.rows, records.filter((r) => r.time < cut).length);
  });

  it('after Kafka lost the ingested records and 10 more days came, a crash between the lake and Kafka commits repeats nothing', async () => {
    const admin = kafka.admin();
    await admin.connect();
    after(() => admin.disconnect());
    for (const [topic, ends] of Object.entries(firstIngest.lakeEnd)) {
      await deleteRecordsBefore(admin, topic, new Map(ends.map((offset, partition) => [partition, offset])));
      const ranges = await partitionRanges(admin, topic);
      assert.deepEqual(
        ranges.map((r) => r.low),
        ends,
        `${topic}: the ingested records are gone from Kafka`,
      );
    }
    await send(rest);

    const crash = new Error('crash before the Kafka commit');
    await assert.rejects(
      ingest(
        { kafka, s3 },
        {
          ...options,
          onProgress: (p) => {
            if (p.phase === 'commit' && p.done === 0) throw crash;
          },
        },
      ),
      (err) => err === crash,
    );
    assert.equal((await readLakeLog(s3, bucket, options.lake)).length, 2, 'the second batch is in the lake');
    const committed = await committedOffsets(admin, options.groupId, topics.transactions);
    assert.deepEqual([...committed.values()], firstIngest.lakeEnd[topics.transactions], 'Kafka still has the first commit');

    last = await ingest({ kafka, s3 }, options);
    assert.equal(last.batch, null, 'nothing read twice');
    const aligned = await committedOffsets(admin, options.groupId, topics.transactions);
    assert.deepEqual([...aligned.values()], last.lakeEnd[topics.transactions], 'the commit catches up with the lake');
  });

  it('the next training window, read from the lake, equals the window computed from the CSV, row for row', async () => {
    const manifest = last.manifest;
    assert.ok(manifest && last.location);
    const newest = isoDay(records[records.length - 1].time);
    assert.deepEqual(manifest.window, { from: addDays(newest, 1 - WINDOW_DAYS), to: newest, days: WINDOW_DAYS });
    const from = Date.parse(`${manifest.window.from}T00:00:00Z`) / 1000;
    const expected = columnsFromRecords(
      records.filter((r) => r.time >= from),
      contract.declaration,
    );
    const { columns } = await loadSnapshot(s3, last.location, contract.declaration);
    assert.equal(columns.rows, expected.rows);
    assert.equal(manifest.rows, expected.rows);
    assert.equal(manifest.duplicates, 0);
    assert.equal(manifest.labelled, expected.rows, 'every label, the late ones of the first part included');
    for (let row = 0; row < expected.rows; row++) {
      const got = [columns.transactionId, columns.time, columns.customerId, columns.terminalId].map((c) => c[row]);
      const want = [expected.transactionId, expected.time, expected.customerId, expected.terminalId].map((c) => c[row]);
      assert.deepEqual(got, want, `row ${row}`);
      assert.equal(columns.amount[row], expected.amount[row]);
      assert.equal(columns.timestamp[row], expected.timestamp[row]);
      assert.equal(columns.fraud[row], expected.fraud[row], `row ${row} label`);
      for (const name in expected.extras) assert.equal(columns.extras[name][row], expected.extras[name][row], `row ${row} ${name}`);
    }
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();
    const keys = await listKeys(s3, bucket, `test-lakes/${run}/`);
    if (keys.length) await s3.removeObjects(bucket, keys);
  });
});

describe('the lake log checkpoint (real S3)', () => {
  const lake = `test-lakes/${run}/checkpointed`;
  const entry = (seq: number): LakeBatch => ({
    format: LAKE_BATCH_FORMAT,
    seq,
    id: `batch-${seq}`,
    sources: {
      transactions: { topic: 'tx', partitions: [{ partition: 0, from: seq, to: seq + 1 }] },
      labels: { topic: 'labels', partitions: [{ partition: 0, from: seq, to: seq }] },
    },
    declaration: contract.declaration,
    newestDay: null,
    files: [],
    rejects: { path: `_rejects/${seq}.ndjson`, sha256: '', bytes: 0, total: 0, byReason: {} },
    createdAt: new Date(0).toISOString(),
  });

  it('a reader takes the checkpoint and the entries after it, and the log alone when the checkpoint is unusable', async () => {
    const count = CHECKPOINT_EVERY + 3;
    const log: LakeBatch[] = [];
    for (let seq = 0; seq < count; seq++) {
      log.push(entry(seq));
      await appendLakeBatch(s3, bucket, lake, log[seq], {});
      await checkpointLakeLog(s3, bucket, lake, log);
    }
    const checkpoint = JSON.parse((await getObjectBuffer(s3, bucket, `${lake}/${CHECKPOINT_KEY}`)).toString('utf8'));
    assert.equal(checkpoint.through, CHECKPOINT_EVERY - 1);
    assert.deepEqual(await readLakeLog(s3, bucket, lake), log);

    await s3.putObject(bucket, `${lake}/${CHECKPOINT_KEY}`, Buffer.from(JSON.stringify({ ...checkpoint, format: 'other' })));
    assert.deepEqual(await readLakeLog(s3, bucket, lake), log, 'an unusable checkpoint is skipped');
    await s3.removeObjects(bucket, await listKeys(s3, bucket, `${lake}/`));
  });
});
