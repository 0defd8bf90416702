// Ingest throughput on the real broker of the local stack, next to Kafka's own consumer performance tool
// (org.apache.kafka.tools.ConsumerPerformance from the same jars) on the same topics in the same run.
// 1 M messages: the first 500 000 transactions of the default dataset and their 500 000 labels.
// Prints one JSON object. Needs the stack (`make up`).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createKafka, ensureTopics, publishRecords } from '../clients/kafka';
import { createS3, ensureBucket } from '../clients/s3';
import { loadConfig, serviceHostOf } from '../config';
import { ingest } from '../dataset/ingest';
import { HANDBOOK_DECLARATION, RecordContract } from '../records';
import { publicationOrder, simulate } from '../simulator';
import { stackPaths } from '../stack/paths';

const TRANSACTIONS = Number(process.env.BENCH_TRANSACTIONS ?? 500_000);

const config = loadConfig();
const kafka = createKafka(config, 'fraudops-bench-ingest');
const id = randomUUID().slice(0, 8);
const topics = { transactions: `bench-tx-${id}`, labels: `bench-labels-${id}`, dlq: `bench-dlq-${id}` };
const log = (line: string) => process.stderr.write(`${line}\n`);

interface PerfResult {
  messages: number;
  megabytes: number;
  /** From its start to its end, group join included. */
  seconds: number;
  /** Fetching only (its fetch.time.ms). */
  fetchSeconds: number;
}

/** Runs ConsumerPerformance on one topic; its summary line gives start/end time, MB and messages. */
function consumerPerformance(topic: string, messages: number): PerfResult {
  const lib = stackPaths(config).kafkaLib;
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const args = [
    `-Dlog4j2.configurationFile=${path.join(config.root, 'stack', 'kafka', 'log4j2.properties')}`,
    '-cp',
    `${lib}/*`,
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    `${serviceHostOf(config, 'kafka')}:${config.stack.kafka.port}`,
    '--topic',
    topic,
    '--messages',
    String(messages),
    '--group',
    `bench-perf-${randomUUID()}`,
    '--timeout',
    '60000',
  ];
  const result = spawnSync(java, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`ConsumerPerformance failed: ${result.stderr}`);
  // The summary line: start.time, end.time, MB, MB/s, messages, messages/s, rebalance ms, fetch ms, fetch MB/s, fetch messages/s.
  const summary = result.stdout
    .split('\n')
    .filter((line) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, /.test(line))
    .pop();
  if (!summary) throw new Error(`ConsumerPerformance printed no summary: ${result.stdout.slice(-500)}`);
  const fields = summary.split(',').map((f) => f.trim());
  const time = (text: string) => Date.parse(text.replace(' ', 'T').replace(/:(\d{3})$/, '.$1'));
  const seconds = (time(fields[1]) - time(fields[0])) / 1000;
  return { megabytes: Number(fields[2]), messages: Number(fields[4]), seconds, fetchSeconds: Number(fields[7]) / 1000 };
}
async function main(): Promise<void> {
  log(`simulating the default dataset, keeping ${TRANSACTIONS} transactions and their labels`);
  const dataset = simulate({});
  const n = Math.min(TRANSACTIONS, dataset.size);
  const contract = new RecordContract(HANDBOOK_DECLARATION);
  const rows = Array.from({ length: n }, (_, i) => dataset.record(i));
  const tx: Array<{ key: string; value: string; headers?: Readonly<Record<string, string>> }> = [];
  const labels: typeof tx = [];
  for (const m of publicationOrder(rows, contract, 7, 'integer')) {
    (m.stream === 'transactions' ? tx : labels).push({ key: m.key, value: m.value, headers: contract.admittedHeaders });
  }

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, Object.values(topics), config.stack.kafka.partitions);
  log(`producing ${tx.length + labels.length} messages`);
  const produceStart = performance.now();
  await publishRecords(kafka, topics.transactions, tx, 5000);
  await publishRecords(kafka, topics.labels, labels, 5000);
  const produceSeconds = (performance.now() - produceStart) / 1000;
  const total = tx.length + labels.length;

  log('ingest (ours): read, Parquet partitions + log to the lake, commit, window manifest');
  const s3 = createS3(config);
  await ensureBucket(config, s3);
  const ours = await ingest(
    { kafka, s3 },
    {
      contract,
      topics,
      groupId: `bench-ingest-${id}`,
      from: 'earliest',
      bucket: config.stack.s3.bucket,
      prefix: `bench-datasets/${id}/datasets`,
      lake: `bench-datasets/${id}/lake`,
      windowDays: config.ingest.windowDays,
      partitions: config.stack.kafka.partitions,
    },
  );

  log('ConsumerPerformance on the same two topics');
  const perf = [consumerPerformance(topics.transactions, tx.length), consumerPerformance(topics.labels, labels.length)];
  const perfMessages = perf.reduce((s, p) => s + p.messages, 0);
  const perfSeconds = perf.reduce((s, p) => s + p.seconds, 0);
  const perfFetchSeconds = perf.reduce((s, p) => s + p.fetchSeconds, 0);

  await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
  await admin.disconnect();
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(config.stack.s3.bucket, `bench-datasets/${id}/`, true)) if (item.name) keys.push(item.name);
  await s3.removeObjects(config.stack.s3.bucket, keys);

  const oursReadRate = total / ours.seconds.read;
  const perfRate = perfMessages / perfSeconds;
  console.log(
    JSON.stringify(
      {
        benchmark: 'ingest',
        messages: total,
        partitions: config.stack.kafka.partitions,
        produce_seconds: produceSeconds,
        ours: {
          read_seconds: ours.seconds.read,
          read_messages_per_second: oursReadRate,
          lake_write_seconds: ours.seconds.write,
          window_seconds: ours.seconds.window,
          total_seconds: ours.seconds.total,
          end_to_end_messages_per_second: total / ours.seconds.total,
          rows: ours.manifest?.rows ?? 0,
          lake_bytes: (ours.batch?.files ?? []).reduce((s, f) => s + f.bytes, 0),
        },
        consumer_performance: {
          tool: 'org.apache.kafka.tools.ConsumerPerformance (kafka 4.1.1 jars)',
          messages: perfMessages,
          seconds: perfSeconds,
          messages_per_second: perfRate,
          fetch_seconds: perfFetchSeconds,
          fetch_messages_per_second: perfMessages / perfFetchSeconds,
        },
        ratio_read_vs_consumer_performance: oursReadRate / perfRate,
        ratio_end_to_end_vs_consumer_performance: total / ours.seconds.total / perfRate,
        note: 'ours: from the start of ingest() (admin, group join, JSON parse + record-contract check of every message) to the last message; ConsumerPerformance: Java client, no decoding, start to end (group join included) per topic, summed',
      },
      null,
      2,
    ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
