// A fraud team's own feed, end to end on the real stack: a card export that is not the handbook's record (hex ids,
// 16–19 digit card numbers as strings, merchant names with commas and quotes, ISO-8601 times with offsets, an extra
// categorical and numeric column, personal columns, rows slightly out of order), declared under `records:` in an
// overlay config, goes through produce → ingest → validate → train → register → approve → serve → stream, driven by
// the CLI as a new user would. Then no dropped column and no raw card number may be found in Kafka's outputs, Redis,
// the snapshot, MLflow or the processes' logs.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKafka } from '../../clients/kafka';
import { MlflowClient } from '../../clients/mlflow';
import { createRedis } from '../../clients/redis';
import { createS3, getObjectBuffer, listKeys } from '../../clients/s3';
import { loadSnapshot } from '../../clients/snapshot-store';
import { projectRoot, type Settings } from '../../config';
import { FEATURE_COUNT } from '../../ml/features';
import { pseudonymizer, recordsSchema, resolveDeclaration } from '../../records';
import type { PipelineResult } from '../../workflows/training-pipeline';
import { CARDS_RECORDS, type CardsFeed, cardsFeed, merchantName } from '../cards-feed';
import { createPipelineEnv, type PipelineEnv, until } from './pipeline-env';
import { readTopic } from './read-topic';

const CLI = path.join(projectRoot(), 'bin', 'fraudops.cjs');
/** The raw values that must not be found in `text`, by where they were found. */
function leaks(where: string, text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret)).map((secret) => `${where}: ${secret}`);
}

describe('a declared card feed through every path (produce, pipeline, API, scorer) on the real stack', () => {
  let env: PipelineEnv;
  let feed: CardsFeed;
  let dir: string;
  let result: PipelineResult;
  const logs = new Map<string, string>();
  const processes: ChildProcess[] = [];

  /** A fraudops process with the test's config, its output kept for the log check. */
  function start(name: string, args: string[]): ChildProcess {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: projectRoot(), env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
    logs.set(name, '');
    const keep = (chunk: Buffer) => logs.set(name, (logs.get(name) ?? '') + chunk.toString());
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    processes.push(child);
    return child;
  }

  before(async () => {
    env = createPipelineEnv((s) => {
      s.records = recordsSchema.parse(CARDS_RECORDS) as Settings['records'];
      Object.assign(s.pipeline.training, { epochs: 3 });
      // A card feed is where the card unit means a cardholder: sampled, clipped and accounted per pseudonymised card.
      Object.assign(s.privacy, { unit: 'card' });
    });
    dir = mkdtempSync(path.join(tmpdir(), 'fraudops-cards-'));
    feed = cardsFeed({ customers: 300, terminals: 600, days: 45, seed: 11, startDate: '2019-01-01' });
    writeFileSync(path.join(dir, 'cards.csv'), feed.csv);
  });
  after(async () => {
    for (const child of processes) if (child.exitCode === null) child.kill('SIGTERM');
    env?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('produces, trains, approves and promotes a model of the declared shape', async () => {
    const produced = await env.cli(['produce', '--csv', path.join(dir, 'cards.csv'), '--json']);
    assert.equal(produced.code, 0, produced.stderr);
    assert.equal(JSON.parse(produced.stdout).transactions, feed.rows);

    env.startWorker('cpu');
    for (const worker of env.workers) {
      worker.stdout?.on('data', (chunk: Buffer) => logs.set('worker', (logs.get('worker') ?? '') + chunk.toString()));
      worker.stderr?.on('data', (chunk: Buffer) => logs.set('worker', (logs.get('worker') ?? '') + chunk.toString()));
    }
    const run = await env.cli(['pipeline', 'run', '--wait', '--approve-as', 'alice']);
    assert.equal(run.code, 0, run.stderr);
    result = JSON.parse(run.stdout);
    assert.equal(result.stage, 'promoted');
    assert.equal(result.dataset.rows, feed.rows);
    assert.ok(result.metrics.averagePrecision > 0, JSON.stringify(result.metrics));
    assert.equal(result.metrics.privacyUnit, 'card');
    assert.ok(
      result.metrics.epsilon !== null && result.metrics.epsilon > 0 && result.metrics.epsilon <= 1.001,
      `ε ${result.metrics.epsilon}`,
    );
    assert.equal(result.lifetimeEpsilon, result.metrics.lifetimeEpsilon, 'the report and the run give the ledger’s lifetime ε');
    const ledger = JSON.parse((await env.cli(['privacy', 'ledger', '--json'])).stdout);
    assert.equal(ledger.unit, 'card');
    assert.equal(ledger.entries.length, 1);
    assert.equal(ledger.entries[0].unit, 'card');
    assert.equal(ledger.budget.period, '365d');
  });

  it('serves POST /predict with the CSV’s own field names and string ids, and streams one output per transaction', async () => {
    const api = start('serve', ['serve']);
    const base = `http://127.0.0.1:${env.config.serving.port}`;
    await until('the API to load the champion', 60_000, async () => ((await fetch(`${base}/ready`)).ok ? true : undefined)).catch((err) => {
      throw new Error(`${err.message}; the API's log ends: ${logs.get('serve')?.slice(-3000)}`);
    });
    assert.equal(api.exitCode, null);
    const card = '4539578763621486123';
    const response = await fetch(`${base}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        trans_num: '9f1c2a',
        trans_date_trans_time: '2019-02-20T13:14:15+01:00',
        cc_num: card,
        merchant: merchantName(7),
        category: 'travel',
        amt: 57.3,
        city_pop: 3495,
        first: 'Jennifer',
        street: '1 Main St',
      }),
    });
    const body = (await response.json()) as { trans_num: string; score: number; features: Record<string, number> };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.trans_num, '9f1c2a');
    assert.ok(body.score >= 0 && body.score <= 1);
    assert.equal(Object.keys(body.features).length, FEATURE_COUNT + 9, 'the 15 features, 8 category indicators and city_pop');
    const bad = await fetch(`${base}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ trans_num: 'x', trans_date_trans_time: '2019-02-20 13:14:15', cc_num: card, merchant: 'm', amt: 1e308 }),
    });
    const problems = ((await bad.json()) as { problems: Array<{ field: string }> }).problems.map((p) => p.field);
    assert.equal(bad.status, 400);
    assert.deepEqual(problems.sort(), ['amt', 'trans_date_trans_time']);
    feed.secrets.push(card, 'Jennifer', '1 Main St');

    start('score-stream', ['score-stream', '--group', `${env.name}-scorer`, '--metrics-port', String(env.config.stream.metricsPort)]);
    const kafka = createKafka(env.config, 'cards-feed-test');
    const outputs = await until('a prediction or a dead letter for every transaction', 180_000, async () => {
      const predictions = await readTopic(kafka, env.config.topics.predictions);
      const letters = (await readTopic(kafka, env.config.topics.dlq)).filter((m) => m.headers.origin === 'score-stream');
      return predictions.length + letters.length >= feed.rows ? { predictions, letters } : undefined;
    });
    const ids = outputs.predictions.map((m) => JSON.parse(m.value).trans_num as string);
    assert.equal(new Set(ids).size, ids.length, 'one prediction per transaction');
    assert.equal(outputs.predictions.length + outputs.letters.length, feed.rows);
    assert.ok(
      ids.every((id) => /^[0-9a-f]{16}$/.test(id)),
      'the hex ids as given',
    );
    const late = outputs.predictions.filter((m) => JSON.parse(m.value).late === true);
    assert.ok(late.length > 0, 'the rows out of order within the lateness are scored and marked late');
  });

  it('leaves no dropped column and no raw card number in Kafka, Redis, the snapshot, MLflow or the logs', async () => {
    const { secrets } = feed;
    const found: string[] = [];
    const kafka = createKafka(env.config, 'cards-feed-test');
    for (const topic of Object.values(env.config.topics)) {
      const messages = await readTopic(kafka, topic).catch(() => []);
      found.push(...leaks(`kafka ${topic}`, messages.map((m) => `${m.key}\n${m.value}\n${JSON.stringify(m.headers)}`).join('\n'), secrets));
    }
    const redis = createRedis(env.config);
    try {
      const keys = await redis.keys('*');
      const values = await Promise.all(keys.map((key) => redis.dumpBuffer(key)));
      found.push(...leaks('redis keys', keys.join('\n'), secrets));
      found.push(...leaks('redis values', values.map((v) => v?.toString('latin1') ?? '').join('\n'), secrets));
    } finally {
      redis.disconnect();
    }
    const s3 = createS3(env.config);
    const bucket = env.config.stack.s3.bucket;
    const location = { bucket, prefix: env.config.ingest.datasetPrefix, sha256: result.dataset.sha256 };
    const snapshot = await loadSnapshot(s3, location, resolveDeclaration(env.config.records));
    const pseudonym = pseudonymizer(env.config.secrets.RECORDS_PSEUDONYM_KEY as string);
    const pseudonyms = new Set(feed.cards.map(pseudonym));
    assert.ok(
      snapshot.columns.customerId.every((id) => pseudonyms.has(id)),
      'every card is its pseudonym in the snapshot',
    );
    assert.deepEqual(
      Object.keys(snapshot.columns.extras).sort(),
      ['category', 'city_pop'],
      'the snapshot keeps the declared columns and nothing dropped',
    );
    for (const object of await listKeys(s3, bucket, `${location.prefix}/${location.sha256}/`)) {
      const bytes = await getObjectBuffer(s3, bucket, object);
      found.push(...leaks(`s3 ${object}`, bytes.toString('latin1'), secrets));
    }
    const mlflow = MlflowClient.fromConfig(env.config);
    const [run] = await mlflow.searchRuns([await mlflow.ensureExperiment(`${env.config.registry.modelName}-pipeline`)]);
    found.push(...leaks('mlflow run', JSON.stringify(run), secrets));
    const walk = async (at: string): Promise<void> => {
      for (const file of await mlflow.listArtifacts(run.info, at)) {
        const full = at ? `${at}/${file.path}` : file.path;
        if (file.is_dir) await walk(full);
        else found.push(...leaks(`mlflow ${full}`, (await mlflow.downloadArtifact(run.info, full)).toString('latin1'), secrets));
      }
    };
    await walk('');
    for (const [name, text] of logs) found.push(...leaks(`log of ${name}`, text, secrets));
    assert.deepEqual(found, []);
    assert.ok(logs.get('worker')?.length, 'the worker logged');
  });
});
