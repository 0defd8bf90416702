// Stream scorer throughput and end-to-end lag on the local stack: the real `fraudops score-stream` process (champion
// from MLflow/S3, state in Redis, Kafka transactions) against simulated transactions and their labels.
//   node --import tsx bench/stream.ts [--transactions 200000] [--rate 5000] [--seconds 10] [--profile DIR]
// Throughput: N transactions (and the labels due by then) are published first; once the scorer has joined, the time
// to commit all N gives tx/s. Lag: the stream then goes on live at --rate transactions a second for --seconds; the lag
// of each is its prediction record's Kafka timestamp minus its input message's (p50, p99).
// cpuSeconds: the scorer process's user + system CPU over the backlog (from /proc; less noisy than tx/s on a shared
// machine). --profile DIR writes a V8 CPU profile of the scorer there (node --cpu-prof).
// Prints one JSON object. Topics, group and Redis keys are unique to the run and removed at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { committedOffsets, createKafka, ensureTopics, type Kafka, partitionRanges } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { promoteVersion, registerBundleVersion } from '../clients/model-registry';
import { createRedis, type Redis } from '../clients/redis';
import { createS3 } from '../clients/s3';
import { loadConfig, projectRoot } from '../config';
import { packBundle } from '../ml/bundle';
import { FEATURE_COUNT } from '../ml/features';
import { buildPrivacyReport } from '../ml/privacy';
import { Rng } from '../ml/random';
import { selectBackend } from '../ml/tensorflow';
import { fixedTransform, transformStep } from '../ml/transforms';
import { recordContract, type TxRecord } from '../records';
import { publicationOrder, simulate } from '../simulator';
import { testPrivacySpent } from '../tests/api-model';
import { type ReadMessage, readTopic } from '../tests/integration/read-topic';
import { publishToTopics } from './publish-topics';

const LABEL_DELAY_DAYS = 7;
/** USER_HZ of /proc/<pid>/stat: 100 on every Linux build Node supports. */
const CLOCK_TICKS = 100;

/** The pipeline's default architecture (15-32-16-1) with fixed random weights. */
function benchBundle() {
  const rng = new Rng([11]);
  const widths = [FEATURE_COUNT, 32, 16, 1];
  const layers = widths.slice(1).map((out, l) => ({
    weights: Float32Array.from({ length: widths[l] * out }, () => rng.normal(0, 1 / Math.sqrt(widths[l]))),
    bias: Float32Array.from({ length: out }, () => rng.normal(0, 0.1)),
  }));
  const transform = fixedTransform();
  return packBundle({
    model: { inputs: FEATURE_COUNT, hidden: [32, 16], layers },
    transform,
    labelDelayDays: LABEL_DELAY_DAYS,
    threshold: 0.5,
    metrics: {},
    privacy: buildPrivacyReport({
      spent: testPrivacySpent({ steps: 100 }),
      records: 1000,
      preprocessing: [transformStep(transform)],
      threshold: { value: 0.5, split: 'validation' },
    }),
    createdAt: '2026-01-01T00:00:00.000Z',
  });
}

type Topics = { transactions: string; labels: string; predictions: string; reviewQueue: string; dlq: string };

/** `fraudops score-stream` on the run's topics; resolves once it has joined its group. */
function startScorer(args: string[], profileDir: string | undefined): Promise<ChildProcess> {
  const node = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = spawn(process.execPath, [...node, path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'score-stream', ...args], {
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', KAFKAJS_NO_PARTITIONER_WARNING: '1', FRAUDOPS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`score-stream did not start within 60 s:\n${output}`));
    }, 60_000);
    child.stdout?.on('data', (data: Buffer) => {
      output += String(data);
      if (output.includes('stream scorer started')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`score-stream exited (${code}) before starting:\n${output}`)));
  });
}

async function waitForCommitted(kafka: Kafka, group: string, topic: string, total: number, scorer: ChildProcess): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (;;) {
      const done = [...(await committedOffsets(admin, group, topic)).values()].reduce((a, b) => a + b, 0);
      if (done >= total) return;
      if (scorer.exitCode !== null) throw new Error(`score-stream exited (${scorer.exitCode}) after ${done} of ${total} transactions`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Kafka timestamps of a topic's committed records from `from` (partition → offset) on, by the id `idOf` reads. */
async function timestamps(
  kafka: Kafka,
  topic: string,
  from: Map<number, number>,
  idOf: (message: ReadMessage) => string,
): Promise<Map<string, number>> {
  return new Map((await readTopic(kafka, topic, from)).map((m) => [idOf(m), m.timestamp]));
}

async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await partitionRanges(admin, topic)).map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function cleanup(kafka: Kafka, redis: Redis, topics: string[], group: string, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** User + system CPU seconds of a child process so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(child: ChildProcess): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      transactions: { type: 'string', default: '200000' },
      rate: { type: 'string', default: '5000' },
      seconds: { type: 'string', default: '10' },
      profile: { type: 'string' },
    },
  });
  const [total, rate, seconds] = [Number(values.transactions), Number(values.rate), Number(values.seconds)];
  const config = loadConfig();
  await selectBackend(config.tensorflow.backend, () => undefined);
  const run = randomUUID().slice(0, 8);
  const topics: Topics = {
    transactions: `bench-tx-${run}`,
    labels: `bench-labels-${run}`,
    predictions: `bench-pred-${run}`,
    reviewQueue: `bench-review-${run}`,
    dlq: `bench-dlq-${run}`,
  };
  const modelEvents = `bench-model-events-${run}`;
  const group = `bench-scorer-${run}`;
  const prefix = `bench:stream:${run}:`;
  const model = `bench-fraud-detector-${run}`;
  const kafka = createKafka(config, 'fraudops-bench-stream');
  const redis = createRedis(config);

  // The handbook's customers and terminals: about 10 000 transactions a simulated day.
  const live = rate * seconds;
  const dataset = simulate({ customers: 5000, terminals: 10_000, days: Math.ceil((total + live) / 9000) + 1, seed: 1 });
  if (dataset.size < total + live) throw new Error(`the simulation has ${dataset.size} transactions, fewer than ${total + live}`);
  const contract = recordContract(config);
  const idOf = (value: string): string => String(JSON.parse(value)[contract.declaration.id]);
  const rows: TxRecord[] = Array.from({ length: total + live }, (_, i) => dataset.record(i));
  const messages = [...publicationOrder(rows, contract, LABEL_DELAY_DAYS, 'integer')];
  // The backlog ends with the last of its transactions; what follows (transactions and labels) goes out live.
  const split = messages.findIndex((m) => m.stream === 'transactions' && idOf(m.value) === rows[total].id);

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [...Object.values(topics), modelEvents], config.stack.kafka.partitions);
  await admin.disconnect();
  const mlflow = MlflowClient.fromConfig(config);
  const version = await registerBundleVersion({ mlflow, s3: createS3(config), bucket: config.stack.s3.bucket }, model, await benchBundle());
  await promoteVersion({ mlflow, kafka, topic: modelEvents }, model, version.version);

  let scorer: ChildProcess | undefined;
  const result: Record<string, unknown> = {
    benchmark: 'stream-scorer',
    partitions: config.stack.kafka.partitions,
    labelDelayDays: LABEL_DELAY_DAYS,
  };
  try {
    await publishToTopics(kafka, topics, contract.admittedHeaders, messages.slice(0, split), { batchSize: 1000 });
    const backlogLabels = messages.slice(0, split).filter((m) => m.stream === 'labels').length;
    scorer = await startScorer(
      [
        ...['--model', model, '--model-events-topic', modelEvents, '--group', group, '--redis-prefix', prefix],
        ...['--transactions-topic', topics.transactions, '--labels-topic', topics.labels],
        ...['--predictions-topic', topics.predictions, '--review-topic', topics.reviewQueue, '--dlq-topic', topics.dlq],
        ...['--label-delay-days', String(LABEL_DELAY_DAYS), '--metrics-port', '0'],
      ],
      values.profile,
    );
    const started = performance.now();
    const cpuBefore = cpuSeconds(scorer);
    await waitForCommitted(kafka, group, topics.transactions, total, scorer);
    const drain = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(scorer) - cpuBefore;
    result.throughput = {
      transactions: total,
      labels: backlogLabels,
      seconds: Number(drain.toFixed(2)),
      txPerSecond: Math.round(total / drain),
      cpuSeconds: Number.isNaN(cpu) ? null : Number(cpu.toFixed(2)),
    };

    const inputFrom = await highWatermarks(kafka, topics.transactions);
    const outputFrom = await highWatermarks(kafka, topics.predictions);
    // The live part up to its last transaction (the labels after it would only be due later), paced by simulated
    // time so that transactions go out at `rate` a second with the labels due meanwhile.
    const liveMessages = messages.slice(split, messages.findLastIndex((m) => m.stream === 'transactions') + 1);
    const span = liveMessages[liveMessages.length - 1].time - liveMessages[0].time;
    const liveStarted = performance.now();
    await publishToTopics(kafka, topics, contract.admittedHeaders, liveMessages, { speedup: (span * rate) / live, batchSize: 1000 });
    const liveSeconds = (performance.now() - liveStarted) / 1000;
    await waitForCommitted(kafka, group, topics.transactions, total + live, scorer);
    // Inputs are keyed by the card, predictions by the transaction id.
    const produced = await timestamps(kafka, topics.transactions, inputFrom, (m) => idOf(m.value));
    const predicted = await timestamps(kafka, topics.predictions, outputFrom, (m) => m.key);
    const lags: number[] = [];
    for (const [id, at] of produced) {
      const out = predicted.get(id);
      if (out !== undefined) lags.push(out - at);
    }
    lags.sort((a, b) => a - b);
    result.lag = {
      transactions: live,
      txPerSecond: Math.round(live / liveSeconds),
      matched: lags.length,
      p50Ms: percentile(lags, 0.5),
      p99Ms: percentile(lags, 0.99),
      maxMs: lags[lags.length - 1],
    };
  } finally {
    if (scorer && scorer.exitCode === null) {
      scorer.kill('SIGTERM');
      await new Promise((resolve) => scorer?.once('exit', resolve));
    }
    await cleanup(kafka, redis, [...Object.values(topics), modelEvents], group, prefix);
    redis.disconnect();
  }
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
