// 1 M simulated transactions in Kafka → a registered, promoted model (auto-approval), through the real pipeline:
// `fraudops worker cpu` and `worker gpu` as processes, the stack's Kafka, S3, MLflow and Temporal. Prints one JSON
// object: total wall time from trigger to result, and the time of each step. Producing the data and starting the
// workers (reported as worker_start_seconds) are not timed.
//   node --import tsx bench/pipeline.ts [--days 104]   (5000 customers × 104 days ≈ 1 M transactions)
//
// --daily: what a daily run costs as the lake grows. For each lake size N of --lake-days (default 10,60), a fresh lake
// is filled with N simulated days (published and ingested a day at a time by `fraudops ingest`, as a deployment fills
// it; not timed); then each of --runs more days (default 3) is published and its run of the data steps timed
// in-process with the real activities: ingest (the new day appended, the window's manifest), validate, features. The
// JSON has each run and the median and minimum per step. The window is the same for every lake: ingest.windowDays =
// --window-days (default 10, the smallest lake). So the figure answers the sentence as written — does a run on
// a 60-day lake cost more than on a 10-day one, i.e. does anything read the lake beyond what is new plus the window?
// (Comparing lakes both longer than the default 60-day window would need 60+ days just to start.) Training and the
// steps after it are left out: they read the split the features step wrote, whose size the protocol fixes, never the
// lake. A 10-day window holds the protocol only with a short shape: 1 validation, 2 training, 1 delay and 1 test day,
// labels published 1 day after their transaction.
//   node --import tsx bench/pipeline.ts --daily [--lake-days 10,60] [--window-days 10] [--customers 5000] [--runs 3]
import { performance } from 'node:perf_hooks';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivityDeps } from '../activities/deps';
import { createFeatureActivities } from '../activities/features';
import { createIngestActivities } from '../activities/ingest';
import { createValidateActivities } from '../activities/validate';
import { createKafka } from '../clients/kafka';
import { connectTemporal } from '../clients/temporal';
import { recordContract } from '../records';
import { type OutgoingMessage, publicationOrder, simulate } from '../simulator';
import { pipelineSettings, startPipeline } from '../temporal/pipeline';
import { createPipelineEnv, workerPolling } from '../tests/integration/pipeline-env';
import type { PipelineResult } from '../workflows/training-pipeline';
import { publishToTopics } from './publish-topics';

const DAY_SECONDS = 86_400;
const argument = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const seconds = (since: number) => Number(((performance.now() - since) / 1000).toFixed(2));
const loadAverage = async () => (await import('node:os')).loadavg().map((v) => Number(v.toFixed(2)));

async function fullRun(): Promise<void> {
  const days = Number(argument('--days') ?? 104) || 104;
  const env = createPipelineEnv((s) => {
    // The configured training (DP-SGD, ε = 1, 30 epochs), not the tests' small one.
    const defaults = { epochs: 30, hidden: [64, 32], checkpointEverySeconds: 10 };
    Object.assign(s.pipeline.training, defaults);
    s.pipeline.trainingHeartbeatTimeout = '1m';
  });
  try {
    const produced = await env.cli(['produce', '--simulate', '--days', String(days)]);
    if (produced.code !== 0) throw new Error(produced.stderr);
    const transactions = Number(/sent (\d+) transactions/.exec(produced.stdout + produced.stderr)?.[1]);
    // A running deployment's workers are up before its runs: their start (bundling the workflows) is not timed.
    const workersStarted = performance.now();
    await Promise.all([workerPolling(env.startWorker('cpu')), workerPolling(env.startWorker('gpu'))]);
    const workerStartSeconds = seconds(workersStarted);
    const client = await connectTemporal(env.config);
    const started = performance.now();
    const run = await startPipeline(client, env.config, { autoApprove: true });
    const result: PipelineResult = await client.workflow.getHandle(run.workflowId).result();
    const total = (performance.now() - started) / 1000;
    console.log(
      JSON.stringify({
        transactions,
        kafka_messages: transactions * 2,
        total_seconds: Number(total.toFixed(1)),
        target_seconds: 30,
        worker_start_seconds: workerStartSeconds,
        stage: result.stage,
        model_version: result.modelVersion,
        train_device: result.trainDevice,
        seconds: result.seconds,
        dataset_rows: result.dataset.rows,
        average_precision: result.metrics.averagePrecision,
        epsilon: result.epsilon,
        steps: result.metrics.steps,
        load_average: await loadAverage(),
      }),
    );
    await client.connection.close();
  } finally {
    env.cleanup();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/** One lake of `lakeDays` days, then the timed data steps of the runs of the `runs` days after it. */
async function dailyRuns(lakeDays: number, runs: number, windowDays: number, customers: number, labelDelayDays: number) {
  const env = createPipelineEnv((s) => {
    s.ingest.windowDays = windowDays;
    s.producer.labelDelayDays = labelDelayDays;
  });
  const { config } = env;
  const kafka = createKafka(config, 'fraudops-bench-pipeline');
  const deps = createActivityDeps(config, 'bench-pipeline');
  deps.log.level = 'warn'; // stdout is the JSON

  try {
    const dataset = simulate({ customers, terminals: 2 * customers, days: lakeDays + runs, seed: 1 });
    const contract = recordContract(config);
    const records = Array.from({ length: dataset.size }, (_, i) => dataset.record(i));
    const firstDay = Math.floor(records[0].time / DAY_SECONDS) * DAY_SECONDS;
    const byDay: OutgoingMessage[][] = Array.from({ length: lakeDays + runs }, () => []);
    for (const m of publicationOrder(records, contract, labelDelayDays, 'integer'))
      byDay[Math.floor((m.time - firstDay) / DAY_SECONDS)]?.push(m);
    const publish = (messages: OutgoingMessage[]) =>
      publishToTopics(kafka, config.topics, contract.admittedHeaders, messages, { batchSize: 500 });
    const activity = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) =>
      new MockActivityEnvironment({ workflowExecution: { workflowId: `bench-${env.name}`, runId: 'r1' } }).run(fn, ...args) as Promise<R>;
    const ingest = createIngestActivities(deps).ingestDataset;

    // Filled as a deployment fills it, a batch a day (one batch of many days would date all their labels on its
    // newest day, dataset/lake.ts, putting every label of the lake in the next windows), by `fraudops ingest` in its
    // own process, so that the timed runs do not inherit this process's heap from filling 60 days.
    for (let day = 0; day < lakeDays; day++) {
      await publish(byDay[day]);
      const ingested = await env.cli(['ingest']);
      if (ingested.code !== 0) throw new Error(`fraudops ingest (day ${day + 1}): ${ingested.stderr}`);
    }
    const lakeTransactions = records.filter((r) => r.time < firstDay + lakeDays * DAY_SECONDS).length;
    const training = pipelineSettings(config).training;
    training.protocol = { validationDays: 1, trainDays: 2, delayDays: labelDelayDays, testDays: 1 };
    const timed: { window_rows: number; validated_rows: number; train_rows: number; seconds: Record<string, number> }[] = [];
    for (let day = lakeDays; day < lakeDays + runs; day++) {
      await publish(byDay[day]);
      const step: Record<string, number> = {};
      const started = performance.now();
      let since = performance.now();
      const window = await activity(ingest, {});
      step.ingest = seconds(since);
      since = performance.now();
      const validation = await activity(createValidateActivities(deps).validateSnapshot, window);
      step.validate = seconds(since);
      since = performance.now();
      const split = await activity(createFeatureActivities(deps).buildFeatures, { dataset: window, training });
      step.features = seconds(since);
      step.total = seconds(started);
      timed.push({ window_rows: window.rows, validated_rows: validation.rows, train_rows: split.rows.train, seconds: step });
    }
    const steps = Object.keys(timed[0].seconds);
    return {
      lake_days: lakeDays,
      lake_transactions: lakeTransactions,
      median_seconds: Object.fromEntries(steps.map((k) => [k, median(timed.map((t) => t.seconds[k]))])),
      min_seconds: Object.fromEntries(steps.map((k) => [k, Math.min(...timed.map((t) => t.seconds[k]))])),
      runs: timed,
      load_average: await loadAverage(),
    };
  } finally {
    env.cleanup();
  }
}

async function daily(): Promise<void> {
  const lakes = (argument('--lake-days') ?? '10,60').split(',').map(Number);
  const windowDays = Number(argument('--window-days') ?? Math.min(...lakes));
  const customers = Number(argument('--customers') ?? 5000);
  const runs = Number(argument('--runs') ?? 3);
  if (lakes.some((n) => !(Number.isInteger(n) && n >= windowDays)) || !(windowDays >= 6))
    throw new Error(`--lake-days ${lakes.join(',')}: each lake must hold at least the window (--window-days ${windowDays} >= 6)`);
  const lakeRuns = [];
  for (const lakeDays of lakes) lakeRuns.push(await dailyRuns(lakeDays, runs, windowDays, customers, 1));
  const [first, last] = [lakeRuns[0], lakeRuns[lakeRuns.length - 1]];
  console.log(
    JSON.stringify({
      benchmark: 'daily run vs lake size',
      window_days: windowDays,
      customers,
      lakes: lakeRuns,
      // The median daily run on the largest lake against the smallest: ≤ 0 when a run costs no more as the lake grows.
      growth: Number((last.median_seconds.total / first.median_seconds.total - 1).toFixed(3)),
    }),
  );
}

(process.argv.includes('--daily') ? daily() : fullRun())
  .then(() => process.exit(process.exitCode ?? 0))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
