// Soak: simulated days of continuous operation on the local stack, as a deployment runs for months. The producer
// publishes by event time (a simulated day per --seconds-per-day real seconds), the real `fraudops score-stream` and
// `fraudops quality-monitor` score and join live, `fraudops worker cpu` and `worker gpu --allow-cpu` serve the
// pipeline, and at each simulated midnight a training run starts (auto-approval by policy) while the next day is
// being published. Before the soak, --warmup-days (default: what the protocol needs to have matured labels) are
// published at once and a first run makes the champion.
//   node --import tsx bench/soak.ts [--days 60] [--customers 5000] [--terminals 10000] [--seconds-per-day 30]
// Prints one JSON object: per simulated day the run's outcome and step times (ingest seconds), the champion's
// version and live AP (quality store), the lifetime ε the run's reservation composed (the whole ledger's worst once
// at the end), lake bytes (S3 listing), Kafka bytes (the topics' log segments under the broker's log.dirs), the RSS of
// each fraudops process and the CPU seconds of those and of the stack's services; then the growth of ingest seconds,
// RSS and CPU per day from day 10 to the last day (single days, and medians of soak days 10–19 against the last 10),
// and the check that every transaction has exactly one output (a prediction or a scorer dead letter). Topics, groups,
// Redis keys and the lake are unique to the run and removed at the end; the registered model and its MLflow runs stay
// (as the integration tests leave theirs).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { committedOffsets, createKafka, ensureTopics, type Kafka, partitionRanges, retentionByTopic } from '../clients/kafka';
import { MlflowClient } from '../clients/mlflow';
import { ledgerPrefix, readLedger } from '../clients/privacy-ledger-store';
import { createRedis, type Redis } from '../clients/redis';
import { createS3, type S3 } from '../clients/s3';
import { connectTemporal } from '../clients/temporal';
import { type Config, lifetimePeriodDays, loadConfig, projectRoot } from '../config';
import { ledgerReport } from '../ml/privacy/ledger';
import { HANDBOOK_PROTOCOL } from '../ml/protocol';
import { recordContract, SECONDS_PER_DAY } from '../records';
import { type OutgoingMessage, publicationOrder, simulate } from '../simulator';
import { stackPaths } from '../stack/paths';
import { cpuSeconds, groupMembers, livePid } from '../stack/process';
import { SERVICE_NAMES } from '../stack/services';
import { readQualityTable } from '../stream/quality';
import { QualityStore } from '../stream/quality-store';
import { formatQualityTable } from '../stream/quality-table';
import { startPipeline } from '../temporal/pipeline';
import { createPipelineEnv, type PipelineEnv } from '../tests/integration/pipeline-env';
import { readTopic } from '../tests/integration/read-topic';
import { type PipelineStatus, pipelineStatus } from '../workflows/messages';
import type { PipelineResult } from '../workflows/training-pipeline';
import { publishToTopics } from './publish-topics';

const HELP = `bench/soak.ts: simulated days of continuous operation on the local stack (prints one JSON object)
  --days N               simulated days of the soak, a training run at each midnight (default 60)
  --warmup-days N        days published at once before the soak (default: ingest.windowDays, or more when the
                         protocol needs it: validation + training + delay + test + label delay days, so the first run
                         has matured labels and every run reads a full window: the growth figures then measure the
                         lake's age, not a window still filling)
  --customers N          simulated cards (default 5000, the handbook's)
  --terminals N          simulated terminals (default 2 × customers)
  --seconds-per-day S    real seconds per simulated day (default 30)
  --min-ap-gain G        pipeline.approval.autoApprove.minAveragePrecisionGain (default: config.yaml's)
  --no-gpu-worker        start only \`fraudops worker cpu\`
  --help                 this text`;

const SETTLE_POLL_MS = 1000;
const DRAIN_TIMEOUT_MS = 10 * 60_000;
const STARTUP_TIMEOUT_MS = 90_000;

interface Options {
  days: number;
  warmupDays?: number;
  customers: number;
  terminals: number;
  secondsPerDay: number;
  minApGain?: number;
  gpuWorker: boolean;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      days: { type: 'string', default: '60' },
      'warmup-days': { type: 'string' },
      customers: { type: 'string', default: '5000' },
      terminals: { type: 'string' },
      'seconds-per-day': { type: 'string', default: '30' },
      'min-ap-gain': { type: 'string' },
      'no-gpu-worker': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const positive = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!(value > 0)) throw new Error(`--${name} must be a positive number, got "${raw}"`);
    return value;
  };
  const customers = positive('customers', values.customers) as number;
  return {
    days: Math.round(positive('days', values.days) as number),
    warmupDays: positive('warmup-days', values['warmup-days']),
    customers,
    terminals: positive('terminals', values.terminals) ?? 2 * customers,
    secondsPerDay: positive('seconds-per-day', values['seconds-per-day']) as number,
    minApGain: values['min-ap-gain'] === undefined ? undefined : Number(values['min-ap-gain']),
    gpuWorker: !values['no-gpu-worker'],
  };
}

/** A `fraudops` child process with the soak's config; its output is kept (the tail) for error messages. */
interface Proc {
  name: string;
  child: ChildProcess;
  output: () => string;
}

function spawnCli(env: PipelineEnv, name: string, args: string[]): Proc {
  const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), ...args], {
    cwd: projectRoot(),
    env: { ...env.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', FRAUDOPS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (data: Buffer) => {
    tail = (tail + String(data)).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { name, child, output: () => tail };
}

async function waitForOutput(proc: Proc, text: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!proc.output().includes(text)) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited (${proc.child.exitCode}) before "${text}":\n${proc.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${proc.name} did not log "${text}" within ${STARTUP_TIMEOUT_MS / 1000} s:\n${proc.output()}`);
    await sleep(200);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size in MB from /proc/<pid>/status (null once the process is gone). */
function rssMb(pid: number | undefined): number | null {
  try {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kb) ? Number((kb / 1024).toFixed(1)) : null;
  } catch {
    return null;
  }
}

async function prefixBytes(s3: S3, bucket: string, prefix: string): Promise<number> {
  let bytes = 0;
  for await (const item of s3.listObjectsV2(bucket, prefix, true)) bytes += item.size ?? 0;
  return bytes;
}

/** The broker's log.dirs (the local stack's server.properties). */
function kafkaLogDirs(config: Config): string[] {
  const file = path.join(config.stack.dir, 'data', 'kafka', 'server.properties');
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('log.dirs='));
  if (!line) throw new Error(`${file} names no log.dirs`);
  return line.slice('log.dirs='.length).split(',');
}

/** Bytes of the topics' log segments (`<topic>-<partition>/*.log` under log.dirs). */
function kafkaBytes(logDirs: string[], topics: string[]): number {
  const partitionDir = new RegExp(`^(${topics.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})-\\d+$`);
  let bytes = 0;
  for (const dir of logDirs) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) {
      if (!partitionDir.test(entry)) continue;
      // Only the segments: the active segment's indexes are preallocated (sparse) files of segment.index.bytes.
      for (const file of readdirSync(path.join(dir, entry))) if (file.endsWith('.log')) bytes += statSync(path.join(dir, entry, file)).size;
    }
  }
  return bytes;
}

/** The whole ledger's worst composed ε (every day or period): once at the end, as it composes every entry. */
async function ledgerWorstEpsilon(config: Config, s3: S3): Promise<number | null> {
  const entries = (await readLedger(s3, config.stack.s3.bucket, ledgerPrefix(config))).map((item) => item.entry);
  if (!entries.length) return null;
  const budget = {
    unit: config.privacy.unit,
    epsilon: config.privacy.lifetimeEpsilon,
    delta: config.privacy.delta,
    periodDays: lifetimePeriodDays(config.privacy),
  };
  return ledgerReport(entries, budget, new Date()).worst?.epsilon ?? null;
}

/** How a day's run ended or where it stopped: done, waiting for approval, or failed. */
interface Settled {
  workflowId: string;
  stage: string;
  decision?: string;
  candidateVersion?: string;
  averagePrecision?: number;
  epsilon?: number | null;
  lifetimeEpsilon: number | null;
  steps: Record<string, number>;
  error?: string;
}

/** Polls the run until it completes, fails, or waits for an approval (the next run's candidate will supersede it). */
/** "workflow failed: activity failed: <the root cause>", as far as the causes go. */
function causeChain(err: unknown): string {
  const messages: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join(': ');
}

async function settle(client: Client, workflowId: string): Promise<Settled> {
  const handle = client.workflow.getHandle(workflowId);
  for (;;) {
    const described = await handle.describe();
    const status = described.status.name;
    // What the run's reservation composed: the ledger's worst ε over the days (or period) this run touches.
    const lifetimeEpsilon = (described.searchAttributes.LifetimeEpsilon?.[0] as number | undefined) ?? null;
    if (status === 'COMPLETED') {
      const result: PipelineResult = await handle.result();
      return {
        workflowId,
        stage: result.stage,
        decision: result.outcome.via,
        candidateVersion: result.modelVersion,
        averagePrecision: result.metrics.averagePrecision,
        epsilon: result.epsilon,
        lifetimeEpsilon,
        steps: result.seconds,
      };
    }
    if (status !== 'RUNNING') {
      const error = await handle.result().then(
        () => status,
        (err: Error) => causeChain(err),
      );
      const last: PipelineStatus | undefined = await handle.query(pipelineStatus).catch(() => undefined);
      return { workflowId, stage: status.toLowerCase(), lifetimeEpsilon, steps: last?.steps ?? {}, error };
    }
    const now: PipelineStatus | undefined = await handle.query(pipelineStatus).catch(() => undefined);
    if (now?.stage === 'awaiting-approval') {
      return {
        workflowId,
        stage: now.stage,
        candidateVersion: now.candidateVersion,
        averagePrecision: now.averagePrecision,
        epsilon: now.epsilon,
        lifetimeEpsilon,
        steps: now.steps,
      };
    }
    await sleep(SETTLE_POLL_MS);
  }
}

async function totalOffsets(kafka: Kafka, read: (admin: ReturnType<Kafka['admin']>) => Promise<number>): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await read(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the scorer's group has committed every transaction offset (the end of the topic). */
async function drainScorer(kafka: Kafka, config: Config, group: string, scorer: Proc): Promise<void> {
  const topic = config.topics.transactions;
  const end = await totalOffsets(kafka, async (admin) => (await partitionRanges(admin, topic)).reduce((sum, p) => sum + p.high, 0));
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const done = await totalOffsets(kafka, async (admin) =>
      [...(await committedOffsets(admin, group, topic)).values()].reduce((a, b) => a + b, 0),
    );
    if (done >= end) return;
    if (scorer.child.exitCode !== null)
      throw new Error(`score-stream exited (${scorer.child.exitCode}) at ${done} of ${end}:\n${scorer.output()}`);
    if (Date.now() > deadline) throw new Error(`score-stream committed ${done} of ${end} transactions within ${DRAIN_TIMEOUT_MS / 1000} s`);
    await sleep(500);
  }
}

/** Every produced transaction id's outputs: predictions (key: the id) and the scorer's dead letters of transactions. */
async function outputCheck(kafka: Kafka, config: Config, ids: Set<string>) {
  const counts = new Map<string, number>();
  for (const m of await readTopic(kafka, config.topics.predictions)) counts.set(m.key, (counts.get(m.key) ?? 0) + 1);
  let deadLetters = 0;
  for (const m of await readTopic(kafka, config.topics.dlq)) {
    if (m.headers.origin !== 'score-stream' || !m.headers.source?.startsWith(`${config.topics.transactions}/`)) continue;
    deadLetters += 1;
    counts.set(m.key, (counts.get(m.key) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  for (const id of ids) {
    const n = counts.get(id) ?? 0;
    if (n === 0) lost += 1;
    else if (n > 1) duplicated += 1;
  }
  const unknown = [...counts.keys()].filter((id) => !ids.has(id)).length;
  return {
    transactions: ids.size,
    predictions: [...counts.values()].reduce((a, b) => a + b, 0) - deadLetters,
    deadLetters,
    lost,
    duplicated,
    unknown,
  };
}

const median = (values: number[]): number | null => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
};

const growth = (from: number | null | undefined, to: number | null | undefined) =>
  from && to !== null && to !== undefined ? Number(((to - from) / from).toFixed(3)) : null;

async function cleanup(config: Config, kafka: Kafka, redis: Redis, s3: S3, groups: string[], redisPrefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: Object.values(config.topics) }).catch(() => undefined);
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  const keys: string[] = [];
  for await (const item of s3.listObjectsV2(config.stack.s3.bucket, `${config.ingest.lakePrefix}/`, true))
    if (item.name) keys.push(item.name);
  if (keys.length) await s3.removeObjects(config.stack.s3.bucket, keys);
}

async function stop(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }),
  );
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!options) {
    console.log(HELP);
    return;
  }
  const base = loadConfig();
  const env = createPipelineEnv((s) => {
    // The configured training and timeouts, not the integration tests' small ones; approvals by policy; no
    // drift- or quality-triggered runs beside the daily one, so each day has exactly one run to measure.
    const t = base.pipeline.training;
    Object.assign(s.pipeline.training, { epochs: t.epochs, hidden: t.hidden, checkpointEverySeconds: t.checkpointEverySeconds });
    s.pipeline.trainingHeartbeatTimeout = base.pipeline.trainingHeartbeatTimeout;
    s.pipeline.gpuScheduleToStart = base.pipeline.gpuScheduleToStart;
    s.pipeline.approval.autoApprove.enabled = true;
    if (options.minApGain !== undefined) s.pipeline.approval.autoApprove.minAveragePrecisionGain = options.minApGain;
    s.pipeline.retrain.onLiveDrift = false;
    s.pipeline.retrain.onQualityDrop = false;
  });
  const { config, name } = env;
  const scorerGroup = `${name}-scorer`;
  const qualityGroup = `${name}-quality`;
  const redisPrefix = `soak:${name}:`;
  const kafka = createKafka(config, 'fraudops-bench-soak');
  const redis = createRedis(config);
  const s3 = createS3(config);
  const logDirs = kafkaLogDirs(config);
  const labelDelay = config.producer.labelDelayDays;
  const needed =
    HANDBOOK_PROTOCOL.validationDays + config.pipeline.schedule.days + labelDelay + HANDBOOK_PROTOCOL.testDays + labelDelay + 1;
  const warmupDays = Math.round(options.warmupDays ?? Math.max(needed, config.ingest.windowDays));

  // The whole timeline at once (deterministic, seed 1); labels due after its last day are never published.
  const dataset = simulate({ customers: options.customers, terminals: options.terminals, days: warmupDays + options.days, seed: 1 });
  const contract = recordContract(config);
  const records = Array.from({ length: dataset.size }, (_, i) => dataset.record(i));
  const firstDay = Math.floor(records[0].time / SECONDS_PER_DAY) * SECONDS_PER_DAY;
  const dayOf = (time: number) => Math.floor((time - firstDay) / SECONDS_PER_DAY);
  const byDay: OutgoingMessage[][] = Array.from({ length: warmupDays + options.days }, () => []);
  for (const m of publicationOrder(records, contract, labelDelay, 'integer')) byDay[dayOf(m.time)]?.push(m);
  const ids = new Set(records.map((r) => String(r.id)));
  const isoDay = (day: number) => new Date((firstDay + day * SECONDS_PER_DAY) * 1000).toISOString().slice(0, 10);

  const procs: Proc[] = [];
  let client: Client | undefined;
  const days: Record<string, unknown>[] = [];
  const result: Record<string, unknown> = {
    benchmark: 'soak',
    customers: options.customers,
    terminals: options.terminals,
    warmupDays,
    days: options.days,
    secondsPerDay: options.secondsPerDay,
    transactions: ids.size,
    kafkaBytesMethod: 'size of the topics’ log segments (<topic>-<partition>/*.log under the broker’s log.dirs)',
    lakeBytesMethod: `S3 listing under ${config.ingest.lakePrefix}/`,
  };
  const started = performance.now();
  try {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(
      admin,
      Object.values(config.topics),
      config.stack.kafka.partitions,
      retentionByTopic(config.topics, config.topicRetention),
    );
    await admin.disconnect();

    procs.push({ name: 'worker-cpu', child: env.startWorker('cpu'), output: () => '' });
    if (options.gpuWorker) procs.push({ name: 'worker-gpu', child: env.startWorker('gpu'), output: () => '' });
    const scorer = spawnCli(env, 'score-stream', [
      'score-stream',
      '--group',
      scorerGroup,
      '--redis-prefix',
      `${redisPrefix}features:`,
      '--metrics-port',
      '0',
    ]);
    const monitor = spawnCli(env, 'quality-monitor', [
      'quality-monitor',
      ...['--group', qualityGroup, '--redis-prefix', `${redisPrefix}quality:`, '--metrics-port', '0'],
    ]);
    procs.push(scorer, monitor);
    await waitForOutput(scorer, 'stream scorer started');
    client = await connectTemporal(config);
    const quality = QualityStore.of(redis, config, `${redisPrefix}quality:`);
    const mlflow = MlflowClient.fromConfig(config);

    // CPU seconds of each process since the previous day's row: what the machine spent on what, day by day (null for
    // a process that is not the one of the previous row: it restarted or stopped).
    const servicePids = () => SERVICE_NAMES.map((name) => [name, livePid(stackPaths(config).pid(name))] as const);
    const cpuTotals = () => {
      const usage = process.cpuUsage();
      return new Map<string, { pid: number | undefined; seconds: number }>([
        ...procs.map((p) => [p.name, { pid: p.child.pid, seconds: p.child.pid ? cpuSeconds([p.child.pid]) : 0 }] as const),
        ...servicePids().map(([name, pid]) => [name, { pid, seconds: pid ? cpuSeconds(groupMembers(pid)) : 0 }] as const),
        ['soak', { pid: process.pid, seconds: (usage.user + usage.system) / 1e6 }],
      ]);
    };
    let cpuBefore = cpuTotals();
    const cpuSince = () => {
      const now = cpuTotals();
      const spent = Object.fromEntries(
        [...now].map(([name, { pid, seconds }]) => {
          const before = cpuBefore.get(name);
          return [name, pid && before?.pid === pid ? Number((seconds - before.seconds).toFixed(2)) : null];
        }),
      );
      cpuBefore = now;
      return spent;
    };
    const measure = async (day: number, settled: Settled) => {
      const champion = await quality.championStatus().catch(() => undefined);
      const alias = await mlflow.getVersionByAlias(config.registry.modelName, 'champion').catch(() => undefined);
      const row = {
        day: isoDay(day),
        run: settled.workflowId,
        stage: settled.stage,
        ...(settled.decision && { decision: settled.decision }),
        ...(settled.error && { error: settled.error }),
        candidateVersion: settled.candidateVersion ?? null,
        candidateAveragePrecision: settled.averagePrecision ?? null,
        runEpsilon: settled.epsilon ?? null,
        ingestSeconds: settled.steps.ingest ?? null,
        stepSeconds: settled.steps,
        champion: alias?.version ?? null,
        championLiveAveragePrecision: champion && champion.version === alias?.version ? champion.liveAveragePrecision : null,
        championLivePositives: champion && champion.version === alias?.version ? champion.positives : null,
        lifetimeEpsilon: settled.lifetimeEpsilon,
        lakeBytes: await prefixBytes(s3, config.stack.s3.bucket, `${config.ingest.lakePrefix}/`),
        kafkaBytes: kafkaBytes(logDirs, Object.values(config.topics)),
        rssMb: Object.fromEntries(procs.map((p) => [p.name, rssMb(p.child.pid)])),
        cpuSeconds: cpuSince(),
        elapsedSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      };
      days.push(row);
      console.error(JSON.stringify(row));
      for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}):\n${p.output()}`);
    };
    // Resolves once the run has fixed its data (startPipeline reads the topics' end offsets): only then may the next
    // day be published, or a run would take part of it and the next run the same training days again.
    const startDay = async (day: number) => {
      const run = await startPipeline(client as Client, config, { autoApprove: true });
      return { settled: settle(client as Client, run.workflowId).then((settled) => measure(day, settled)) };
    };

    // Warm-up: the history a deployment starts from, at once; the first run makes the champion.
    await publishToTopics(kafka, config.topics, contract.admittedHeaders, byDay.slice(0, warmupDays).flat(), { batchSize: 500 });
    await (await startDay(warmupDays - 1)).settled;
    // Each day is published paced while the previous midnight's run goes on; at most one run at a time.
    const speedup = SECONDS_PER_DAY / options.secondsPerDay;
    let pending: Promise<void> | undefined;
    for (let day = warmupDays; day < warmupDays + options.days; day++) {
      await publishToTopics(kafka, config.topics, contract.admittedHeaders, byDay[day], { speedup, batchSize: 500 });
      await pending;
      pending = (await startDay(day)).settled;
      pending.catch(() => undefined);
    }
    await pending;
    // A candidate that waited for approval has since been superseded by the next day's (or still waits: the last).
    for (const row of days.filter((d) => d.stage === 'awaiting-approval')) {
      const handle = client.workflow.getHandle(row.run as string);
      if ((await handle.describe()).status.name === 'COMPLETED') row.finalStage = ((await handle.result()) as PipelineResult).stage;
    }

    await drainScorer(kafka, config, scorerGroup, scorer);
    result.outputs = await outputCheck(kafka, config, ids);
    // What `fraudops model quality --days 7` prints at the end of the soak (the README shows it).
    const table = await readQualityTable(quality);
    const lastDays = new Set([...new Set(table.map((row) => row.day))].sort().slice(-7));
    result.liveQuality = formatQualityTable(table.filter((row) => lastDays.has(row.day)));
    const soak = days.slice(1);
    const tenth = soak[Math.min(9, soak.length - 1)];
    const last = soak[soak.length - 1];
    // Single days are noisy on a shared machine: also the medians of soak days 10–19 against the last 10 days.
    const [early, late] = [soak.slice(9, 19), soak.slice(-10)];
    const rss = (rows: typeof soak, name: string) => rows.map((d) => (d.rssMb as Record<string, number>)[name]);
    const ingest = (rows: typeof soak) => rows.map((d) => d.ingestSeconds as number);
    const rssGrowth = Object.fromEntries(
      procs.map((p) => [
        p.name,
        {
          day10ToLast: growth((tenth?.rssMb as Record<string, number>)?.[p.name], (last?.rssMb as Record<string, number>)?.[p.name]),
          medians: growth(median(rss(early, p.name)), median(rss(late, p.name))),
        },
      ]),
    );
    result.summary = {
      from: tenth?.day,
      to: last?.day,
      ingestSecondsGrowth: {
        day10ToLast: growth(tenth?.ingestSeconds as number, last?.ingestSeconds as number),
        medians: growth(median(ingest(early)), median(ingest(late))),
      },
      rssGrowth,
      ledgerWorstEpsilon: await ledgerWorstEpsilon(config, s3),
      // Each day is the same paced work: a process whose CPU per day grows is what slows the runs down.
      cpuSecondsPerDay: Object.fromEntries(
        Object.keys((soak[0]?.cpuSeconds as Record<string, number>) ?? {}).map((name) => {
          const cpu = (rows: typeof soak) =>
            rows.map((d) => (d.cpuSeconds as Record<string, number | null>)[name]).filter((v): v is number => v !== null);
          const [before, after] = [median(cpu(early)), median(cpu(late))];
          return [name, { early: before, late: after, growth: growth(before, after) }];
        }),
      ),
      target: '< 0.10 each',
      promoted: days.filter((d) => (d.finalStage ?? d.stage) === 'promoted').length,
      superseded: days.filter((d) => (d.finalStage ?? d.stage) === 'superseded').length,
      failed: days.filter((d) => d.error).length,
      zeroLostOrDuplicated:
        (result.outputs as { lost: number; duplicated: number }).lost === 0 && (result.outputs as { duplicated: number }).duplicated === 0,
    };
    result.perDay = days;
    result.wallSeconds = Number(((performance.now() - started) / 1000).toFixed(1));
  } finally {
    // The last candidate may still wait for an approval: end it so it does not linger on the shared stack.
    const waiting = days.filter((d) => d.stage === 'awaiting-approval' && !d.finalStage).map((d) => d.run as string);
    for (const id of waiting)
      await client?.workflow
        .getHandle(id)
        .terminate('soak benchmark finished')
        .catch(() => undefined);
    await client?.connection.close();
    await stop(procs);
    await cleanup(config, kafka, redis, s3, [scorerGroup, qualityGroup, config.ingest.consumerGroup], redisPrefix).catch((err: Error) =>
      console.error(`cleanup: ${err.message}`),
    );
    redis.disconnect();
    env.cleanup();
  }
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
