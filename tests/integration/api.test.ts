// The API on the real stack: the champion comes from MLflow + S3 and is hot-swapped on model-events (Kafka). A test
// model name and topic of its own per run; promotions under steady load drop nothing and a corrupt bundle never serves.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type RunningServer, startServer } from '../../api/server';
import { createKafka, ensureTopics } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { bundleKeyFor, CHAMPION, promoteVersion, registerBundleVersion } from '../../clients/model-registry';
import { createRedis } from '../../clients/redis';
import { createS3 } from '../../clients/s3';
import { loadConfig, projectRoot } from '../../config';
import { BUNDLE_FILES, loadBundle, type ModelBundleFiles, verifyBundle } from '../../ml/bundle';
import { computeFeatures, FEATURE_COUNT, FEATURE_NAMES, type FeatureInput } from '../../ml/features';
import { selectBackend } from '../../ml/tensorflow';
import { formatUtc } from '../../records';
import { ChampionWatcher, type ServingModel } from '../../serving/champion-watcher';
import { OnlineFeatureStore } from '../../serving/online-features';
import { featuresObject, testBundle, testFeatureRows } from '../api-model';

const config = loadConfig();
const run = randomUUID().slice(0, 8);
const model = `test-fraud-detector-api-${run}`;
const topic = `model-events-api-${run}`;
const kafka = createKafka(config, 'fraudops-test-api');
const mlflow = MlflowClient.fromConfig(config);
const s3 = createS3(config);
const bucket = config.stack.s3.bucket;
const registry = { mlflow, s3, bucket };
const featurePrefix = `fraudops:test-api-${run}:`;
const row = testFeatureRows(1, 5);
const features = featuresObject(row, 0);

/** Log lines kept in memory, so tests can check what was logged. */
const logLines: Array<Record<string, unknown>> = [];
const log = pino(
  { level: 'info', formatters: { level: (label) => ({ level: label }) } },
  { write: (line: string) => logLines.push(JSON.parse(line)) },
);

interface Sample {
  sent: number;
  received: number;
  status: number;
  version?: string;
  score?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `fraudops serve` as cli/main.ts runs it (the command module registered on a program of its own). */
const serveCommand = (port: number) => `
const { Command } = require('commander');
const { registerServeCommands } = require('./cli/serve.ts');
const program = new Command('fraudops').exitOverride();
registerServeCommands(program);
program.parseAsync(['serve', '--port', '${port}', '--host', '127.0.0.1'], { from: 'user' });
`;

/** Resolves with the next emission of `event`, or rejects after `ms`. */
function nextEvent<T extends unknown[]>(watcher: ChampionWatcher, event: 'swapped' | 'rejected', ms = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    watcher.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

describe('API on the real stack: champion, hot swap, corrupt bundle, approvals', () => {
  let server: RunningServer;
  const bundles: ModelBundleFiles[] = [];
  /** Registered version per bundle index; the expected score of `row` per version. */
  const versions: string[] = [];
  const expectedScore = new Map<string, number>();
  const deps = { mlflow, kafka, topic };

  const predict = async (): Promise<Sample> => {
    const sent = performance.now();
    try {
      const response = await fetch(`${server.url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ features }),
      });
      const body = (await response.json()) as { model_version?: string; score?: number };
      return { sent, received: performance.now(), status: response.status, version: body.model_version, score: body.score };
    } catch {
      return { sent, received: performance.now(), status: 0 };
    }
  };
  const get = async (path: string) => {
    const response = await fetch(server.url + path);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  before(async () => {
    await selectBackend('tensorflow', () => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [topic], 1);
    await admin.disconnect();
    for (const seed of [1, 2]) {
      const files = await testBundle(seed);
      const version = await registerBundleVersion(registry, model, files);
      const loaded = await loadBundle(files);
      expectedScore.set(version.version, loaded.predict(row, 1)[0]);
      loaded.dispose();
      bundles.push(files);
      versions.push(version.version);
    }
    assert.notEqual(expectedScore.get(versions[0]), expectedScore.get(versions[1]), 'the two versions score differently');
    // A long poll interval: the swaps below must come from model-events.
    server = await startServer(config, {
      port: 0,
      host: '127.0.0.1',
      model,
      modelEventsTopic: topic,
      pollSeconds: 3600,
      handleSignals: false,
      featurePrefix,
      log,
    });
  });

  after(async () => {
    await server?.close();
    const redis = createRedis(config);
    const keys = await redis.keys(`${featurePrefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('is not ready before a champion exists, and becomes ready when one is promoted (model-events)', async () => {
    const before = await get('/ready');
    assert.equal(before.status, 503);
    assert.equal((await get('/model')).status, 503);
    const swapped = nextEvent<[ServingModel]>(server.watcher, 'swapped');
    await promoteVersion(deps, model, versions[0]);
    const [serving] = await swapped;
    assert.equal(serving.version, versions[0]);
    assert.deepEqual((await get('/ready')).body, { ready: true, model_version: versions[0] });
    const info = await get('/model');
    assert.equal(info.body.version, versions[0]);
    assert.equal(info.body.bundle_sha256, verifyBundle(bundles[0]).bundleSha256);
    assert.equal((info.body.privacy as { epsilon: number }).epsilon, 1);
  });

  it('a raw transaction is scored on the online features (Redis), equal to the training code, without changing the state', async () => {
    const redis = createRedis(config);
    const store = new OnlineFeatureStore(redis, { labelDelayDays: config.producer.labelDelayDays, prefix: featurePrefix });
    try {
      const day = 86_400;
      const start = Date.UTC(2026, 2, 1) / 1000;
      const history: FeatureInput[] = Array.from({ length: 12 }, (_, i) => ({
        transactionId: String(i),
        timestamp: start + i * 0.6 * day,
        customerId: '4',
        terminalId: i % 2 ? '9' : '8',
        amount: 10 + i,
      }));
      await store.observe(history);
      // Integer ids are read as their decimal strings: the same Redis entities as the history's.
      const raw = { TRANSACTION_ID: 100, TX_DATETIME: '2026-03-09 10:00:00', CUSTOMER_ID: 4, TERMINAL_ID: 9, TX_AMOUNT: 42.5 };
      const tx = { transactionId: '100', timestamp: Date.UTC(2026, 2, 9, 10) / 1000, customerId: '4', terminalId: '9', amount: 42.5 };
      const batch = computeFeatures(
        [...history, tx].map((t) => ({ ...t, fraud: 0 as const })),
        config.producer.labelDelayDays,
      );
      const expected = Object.fromEntries(FEATURE_NAMES.map((name, j) => [name, batch[history.length * FEATURE_COUNT + j]]));
      assert.equal(expected.CUSTOMER_ID_NB_TX_30DAY_WINDOW, 13, 'the history counts');

      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await fetch(`${server.url}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(raw),
        });
        const body = (await response.json()) as { TRANSACTION_ID: string; score: number; features: Record<string, number> };
        assert.equal(response.status, 200, JSON.stringify(body));
        assert.equal(body.TRANSACTION_ID, '100');
        assert.deepEqual(body.features, expected, `attempt ${attempt}: the same features as the batch code, and peek changed nothing`);
      }
    } finally {
      redis.disconnect();
    }
  });

  it('event time: a transaction late within records.lateness is scored and marked; later, or 2 days ahead of the clock, is a 400', async () => {
    const redis = createRedis(config);
    const store = new OnlineFeatureStore(redis, { labelDelayDays: config.producer.labelDelayDays, prefix: featurePrefix });
    try {
      const latest = Date.UTC(2026, 3, 2, 12) / 1000;
      await store.observe([{ transactionId: 'h-1', timestamp: latest, customerId: 'C17', terminalId: 'T-9f1c', amount: 20 }]);
      const post = async (seconds: number) => {
        const tx = { TRANSACTION_ID: '9f1c2a', TX_DATETIME: formatUtc(seconds), CUSTOMER_ID: 'C17', TERMINAL_ID: 'T-9f1c', TX_AMOUNT: 12 };
        const response = await fetch(`${server.url}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(tx),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const late = await post(latest - 60);
      assert.equal(late.status, 200, JSON.stringify(late.body));
      assert.deepEqual([late.body.TRANSACTION_ID, late.body.late, late.body.late_seconds], ['9f1c2a', true, 60]);
      assert.match(await (await fetch(`${server.url}/metrics`)).text(), /fraudops_api_late_transactions_total 1\b/);

      const tooLate = await post(latest - 3600);
      assert.equal(tooLate.status, 400);
      assert.match(
        String(tooLate.body.error),
        /TX_DATETIME it is 3600 s older than its card's latest transaction, more than records\.lateness/,
      );

      const ahead = await post(Date.now() / 1000 + 2 * 86_400);
      assert.equal(ahead.status, 400);
      assert.match(String(ahead.body.error), /TX_DATETIME its time is \d+ s past the wall clock, more than records\.maxFuture/);
    } finally {
      redis.disconnect();
    }
  });

  it('hot swap under steady load: no request fails and each names the version that scored it, champion at that moment', async () => {
    const samples: Sample[] = [];
    let running = true;
    const client = async () => {
      while (running) samples.push(await predict());
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const swapped = nextEvent<[ServingModel, ServingModel]>(server.watcher, 'swapped');
    const promotedAt = performance.now();
    await promoteVersion(deps, model, versions[1]);
    const [next, previous] = await swapped;
    const swappedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 700));
    running = false;
    await Promise.all(clients);

    assert.deepEqual([previous.version, next.version], versions);
    assert.ok(samples.length > 200, `steady load: ${samples.length} requests`);
    const failed = samples.filter((s) => s.status !== 200);
    assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
    const counts = new Map<string | undefined, number>();
    for (const s of samples) counts.set(s.version, (counts.get(s.version) ?? 0) + 1);
    assert.ok((counts.get(versions[0]) ?? 0) > 50 && (counts.get(versions[1]) ?? 0) > 50, JSON.stringify([...counts]));
    for (const s of samples) {
      assert.ok(s.version === versions[0] || s.version === versions[1], `unexpected version ${s.version}`);
      // The score is the named version's own: the label and the model that scored agree.
      assert.ok(Math.abs((s.score as number) - (expectedScore.get(s.version) as number)) <= 1e-6, `score of version ${s.version}`);
      // The old champion served only requests that reached the server before the swap; the new one only after its promotion began.
      if (s.version === versions[0]) assert.ok(s.sent < swappedAt, 'old version after the swap');
      if (s.version === versions[1]) assert.ok(s.received > promotedAt, 'new version before its promotion');
    }
  });

  it('a corrupt champion bundle is rejected: the old model keeps serving, the metric and a log line report it, no retry loop', async () => {
    const files = await testBundle(3, new Date().toISOString()); // a bundle hash of this run only: it gets corrupted
    const version = await registerBundleVersion(registry, model, files);
    const key = bundleKeyFor(verifyBundle(files).bundleSha256);
    try {
      const weights = Buffer.from(files.get(BUNDLE_FILES.weights) as Uint8Array);
      weights[weights.length - 1] ^= 0xff; // same size, one flipped byte
      await s3.putObject(bucket, `${key}/${BUNDLE_FILES.weights}`, weights, weights.length);

      const rejected = nextEvent<[string, Error]>(server.watcher, 'rejected');
      const during = predict();
      await promoteVersion(deps, model, version.version);
      const [rejectedVersion, error] = await rejected;
      assert.equal(rejectedVersion, version.version);
      assert.match(error.message, /weights\.bin: hash-mismatch/);
      assert.equal(
        (await mlflow.getVersionByAlias(model, CHAMPION))?.version,
        version.version,
        'the registry says the bad one is champion',
      );

      const after = await Promise.all([during, predict(), predict()]);
      for (const s of after) assert.deepEqual([s.status, s.version], [200, versions[1]]);
      assert.equal((await get('/ready')).status, 200);
      assert.equal((await get('/model')).body.version, versions[1]);
      const rejectionsMetric = new RegExp(`fraudops_api_model_bundle_rejections_total\\{version="${version.version}"\\} 1\\b`);
      const metricsText = async () => (await fetch(`${server.url}/metrics`)).text();
      assert.match(await metricsText(), rejectionsMetric);
      assert.match(await metricsText(), new RegExp(`fraudops_api_model_info\\{version="${versions[1]}"`));
      const line = logLines.find(
        (l) => l.msg === 'champion bundle rejected; the current model keeps serving' && l.version === version.version,
      );
      assert.ok(line, 'an error line names the rejected version');
      assert.equal(line.level, 'error');

      // Checking again (an event, a poll) does not download or reject the remembered bad bundle again.
      let again = 0;
      server.watcher.on('rejected', () => again++);
      await server.watcher.check();
      await server.watcher.check();
      assert.equal(again, 0);
      assert.match(await metricsText(), rejectionsMetric);
    } finally {
      for (const name of files.keys()) await s3.removeObject(bucket, `${key}/${name}`).catch(() => undefined);
    }
  });

  it('polling the alias catches a champion change that was never announced', async () => {
    const watcher = await ChampionWatcher.start({ config, kafka, mlflow, s3, log }, { model, modelEventsTopic: topic, pollSeconds: 1 });
    try {
      assert.equal(watcher.current(), undefined, 'the corrupt champion is not loaded by a fresh watcher either');
      const swapped = nextEvent<[ServingModel]>(watcher, 'swapped', 5000);
      await mlflow.setAlias(model, CHAMPION, versions[0]); // no model-events message
      const [serving] = await swapped;
      assert.equal(serving.version, versions[0]);
      assert.equal(watcher.current()?.version, versions[0]);
    } finally {
      await watcher.stop();
    }
  });

  it('approval endpoints: 401 without the bearer token, 404 for an unknown workflow (real Temporal)', async () => {
    const decide = (token?: string) =>
      fetch(`${server.url}/approvals/no-such-workflow-${run}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ version: versions[1], approver: config.pipeline.approval.approvers[0], reason: 'looks good' }),
      });
    const anonymous = await decide();
    assert.equal(anonymous.status, 401);
    assert.equal((await decide('wrong-token-wrong-token')).status, 401);
    const unknown = await decide(config.secrets.API_TOKEN);
    const body = (await unknown.json()) as { error: string };
    assert.equal(unknown.status, 404, JSON.stringify(body));
    assert.match(body.error, new RegExp(`no running workflow no-such-workflow-${run}`));
  });

  it('`fraudops serve` serves the champion and, on SIGTERM, refuses new connections, finishes the request in flight, exits 0', async () => {
    // The command reads config.yaml: a copy naming this run's model and topic (secrets come from the environment).
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-serve-test-'));
    const settings = parseYaml(readFileSync(path.join(projectRoot(), 'config.yaml'), 'utf8'));
    settings.registry.modelName = model;
    settings.topics.modelEvents = topic;
    writeFileSync(path.join(dir, 'config.yaml'), stringifyYaml(settings));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', serveCommand(port)], {
      cwd: projectRoot(),
      env: { ...process.env, ...config.secrets, FRAUDOPS_CONFIG: path.join(dir, 'config.yaml'), TF_CPP_MIN_LOG_LEVEL: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 40_000;
      let ready: { model_version?: string } = {};
      while (Date.now() < deadline && !ready.model_version) {
        ready = await fetch(`${url}/ready`)
          .then((r) => r.json() as Promise<{ model_version?: string }>)
          .catch(() => ({}));
        if (!ready.model_version) await sleep(250);
      }
      assert.equal(ready.model_version, versions[0], `serve did not become ready: ${output}`);

      // A request whose body arrives in two parts, with the stop signal in between.
      const body = JSON.stringify({ features, TRANSACTION_ID: 99 });
      const half = Math.floor(body.length / 2);
      const inFlight = request(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      });
      const answered = new Promise<{ status?: number; text: string }>((resolve, reject) => {
        inFlight.on('response', (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode, text }));
        });
        inFlight.on('error', reject);
      });
      inFlight.write(body.slice(0, half));
      await sleep(300);
      child.kill('SIGTERM');
      await sleep(500);
      await assert.rejects(fetch(`${url}/health`), 'a new connection is refused while draining');
      inFlight.end(body.slice(half));
      const { status, text } = await answered;
      assert.equal(status, 200, text);
      assert.deepEqual([JSON.parse(text).TRANSACTION_ID, JSON.parse(text).model_version], ['99', versions[0]]);
      assert.equal(await exited, 0, output);
      assert.match(output, /"msg":"api stopped"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
