// produce → ingest → lake → dataset on the real Kafka and S3: the DLQ path, idempotent re-runs, a crash drill, and a
// declared (non-handbook) card export through `produce --csv --skip-bad` and ingest.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetMetadata } from 'hyparquet';
import { committedOffsets, createKafka, partitionRanges } from '../../clients/kafka';
import { createS3, ensureBucket, getObjectBuffer, listKeys } from '../../clients/s3';
import { lakeKey, loadSnapshot, type SnapshotLocation, snapshotKey } from '../../clients/snapshot-store';
import { loadConfig, projectRoot } from '../../config';
import { type IngestOptions, ingest } from '../../dataset/ingest';
import { labelledRecords, MANIFEST_FILE } from '../../dataset/snapshot';
import { validateRecords } from '../../ml/validation';
import { recordContract } from '../../records';
import { simulate } from '../../simulator';
import { CARDS_RECORDS, cardsFeed } from '../cards-feed';
import { readTopic } from './read-topic';

const config = loadConfig();
const kafka = createKafka(config, 'fraudops-test-ingest');
const s3 = createS3(config);
const bucket = config.stack.s3.bucket;
const run = randomUUID().slice(0, 8);
const CLI = path.join(projectRoot(), 'bin', 'fraudops.cjs');
const contract = recordContract(config);

function topicsFor(name: string) {
  return { transactions: `${name}-tx-${run}`, labels: `${name}-labels-${run}`, dlq: `${name}-dlq-${run}` };
}

function options(name: string, overrides: Partial<IngestOptions> = {}): IngestOptions {
  return {
    contract,
    topics: topicsFor(name),
    groupId: `${name}-group-${run}`,
    from: 'earliest',
    bucket,
    prefix: `test-datasets/${run}`,
    lake: `test-datasets/${run}/lake-${name}`,
    windowDays: 60,
    partitions: 3,
    stallTimeoutMs: 20_000,
    ...overrides,
  };
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStderr` may kill the child. */
function cli(args: string[], onStderr?: (text: string, child: ChildProcess) => void, env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: projectRoot(), env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      onStderr?.(stderr, child);
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function produceArgs(name: string, sim: string[]): string[] {
  const t = topicsFor(name);
  return ['produce', '--simulate', ...sim, '--transactions-topic', t.transactions, '--labels-topic', t.labels, '--json'];
}

describe('ingest (real Kafka + S3)', () => {
  before(() => ensureBucket(config, s3));

  describe('produce → ingest → snapshot, with malformed messages', () => {
    const sim = { customers: 60, terminals: 150, days: 21, seed: 3 };
    const dataset = simulate(sim);
    const o = options('dlq');
    let first: Awaited<ReturnType<typeof ingest>>;
    let location: SnapshotLocation;

    before(async () => {
      const produced = await cli(produceArgs('dlq', ['--customers', '60', '--terminals', '150', '--days', '21', '--seed', '3']));
      assert.equal(produced.code, 0, produced.stderr);
      const counts = JSON.parse(produced.stdout);
      assert.equal(counts.transactions, dataset.size);
      assert.equal(counts.labels, dataset.size);

      const valid = dataset.transaction(5);
      const { TX_FRAUD: _f, TX_FRAUD_SCENARIO: _s, ...unlabelled } = valid;
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({
        topic: o.topics.transactions,
        messages: [
          { key: 'bad-json', value: '{"TRANSACTION_ID": 1,' },
          { key: 'missing', value: JSON.stringify({ ...unlabelled, TRANSACTION_ID: 900001, TERMINAL_ID: undefined }) },
          { key: 'typed', value: JSON.stringify({ ...unlabelled, TRANSACTION_ID: 900002, TX_AMOUNT: '12.5' }) },
          { key: 'negative', value: JSON.stringify({ ...unlabelled, TRANSACTION_ID: 900003, TX_AMOUNT: -4 }) },
          { key: 'duplicate', value: JSON.stringify(unlabelled) },
          { key: 'empty', value: null },
        ],
      });
      await producer.send({
        topic: o.topics.labels,
        messages: [{ key: 'bad-label', value: JSON.stringify({ TRANSACTION_ID: 7, TX_FRAUD: 2 }) }],
      });
      await producer.disconnect();
      first = await ingest({ kafka, s3 }, o);
      assert.ok(first.location && first.batch);
      location = first.location;
    });

    it('holds exactly the produced transactions with their labels, sorted by time', async () => {
      const { manifest, columns } = await loadSnapshot(s3, location);
      assert.equal(first.written, true);
      assert.equal(manifest.rows, dataset.size);
      assert.equal(columns.rows, dataset.size);
      assert.equal(manifest.labelled, dataset.size);
      assert.equal(manifest.labelCoverage, 1);
      const expected = new Map(Array.from({ length: dataset.size }, (_, i) => [String(i), dataset.transaction(i)]));
      assert.equal(new Set(columns.transactionId).size, dataset.size, 'no id twice');
      for (let row = 0; row < columns.rows; row++) {
        const tx = expected.get(columns.transactionId[row]);
        assert.ok(tx, `unknown id ${columns.transactionId[row]}`);
        assert.equal(columns.amount[row], tx.TX_AMOUNT);
        assert.equal(columns.fraud[row], tx.TX_FRAUD);
        assert.equal(columns.extras.TX_FRAUD_SCENARIO[row], tx.TX_FRAUD_SCENARIO);
        assert.equal(columns.customerId[row], String(tx.CUSTOMER_ID));
        assert.equal(columns.time[row], tx.TX_DATETIME);
        if (row > 0) assert.ok(columns.timestamp[row] >= columns.timestamp[row - 1], 'sorted by time');
      }
      assert.equal(manifest.frauds, Array.from(expected.values()).filter((t) => t.TX_FRAUD === 1).length);
      assert.equal(manifest.timeRange.first, dataset.transaction(0).TX_DATETIME);
      const offsets = first.batch?.sources.transactions.partitions.reduce((sum, p) => sum + p.to - p.from, 0);
      assert.equal(offsets, dataset.size + 6, 'offsets cover every transaction message');
    });

    it('validates the snapshot: passes clean, and fails naming the rule once a row is broken', async () => {
      const run = (args: string[]) => cli(['validate', '--dataset', location.sha256, '--prefix', o.prefix, '--now', '2019-01-01', ...args]);
      const clean = await run(['--json']);
      assert.equal(clean.code, 0, clean.stderr);
      const report = JSON.parse(clean.stdout);
      assert.equal(report.status, 'pass');
      assert.equal(report.rows.total, dataset.size);

      const { columns } = await loadSnapshot(s3, location, contract.declaration);
      const records = [...labelledRecords(columns)];
      records[3] = { ...records[3], amount: -1 };
      records[4] = { ...records[4], id: records[5].id };
      const broken = validateRecords(records, {
        contract,
        now: Date.parse('2019-01-01') / 1000,
        thresholds: config.validation,
        labels: 'required',
      });
      assert.equal(broken.status, 'fail');
      assert.ok(broken.failures.some((f) => /TRANSACTION_ID duplicated/.test(f)));
      // One bad row in ~1,300 is under validation.maxBadRowFraction: named, as a warning.
      assert.ok([...broken.failures, ...broken.warnings].some((f) => /TX_AMOUNT must be a number in \[0, 100000\]/.test(f)));
    });

    it('counts every malformed message by reason and sends each to the DLQ with it', async () => {
      const manifest = first.manifest;
      assert.deepEqual(manifest?.rejected.byReason, {
        'invalid-json': 1,
        schema: 3,
        'duplicate-transaction-id': 1,
        'empty-message': 1,
        'label-schema': 1,
      });
      const dlq = await readTopic(kafka, o.topics.dlq);
      assert.equal(dlq.length, 7);
      assert.equal(first.dlqPublished, 7);
      const reasons = dlq.map((m) => JSON.parse(m.value));
      const byProblem = (field: string) => reasons.find((r) => r.problems?.some((p: { field: string }) => p.field === field));
      assert.match(byProblem('TERMINAL_ID').problems[0].rule, /required/);
      assert.match(reasons.find((r) => r.key === 'typed').problems[0].rule, /must be a number in \[0, 100000\]/);
      assert.equal(reasons.find((r) => r.key === 'negative').problems[0].field, 'TX_AMOUNT');
      assert.equal(JSON.parse(reasons.find((r) => r.key === 'negative').value).TRANSACTION_ID, 900003, 'the scrubbed value');
      assert.equal(reasons.find((r) => r.key === 'bad-label').reason, 'label-schema');
      assert.equal(reasons.find((r) => r.key === 'bad-json').value, null, 'text that is not JSON is not kept');
      for (const message of dlq) {
        assert.equal(message.headers.reason, JSON.parse(message.value).reason);
        assert.equal(JSON.parse(message.value).batch, first.batch?.id);
      }
    });

    it('commits the group offsets at the high-water marks only after the snapshot is durable', async () => {
      const admin = kafka.admin();
      await admin.connect();
      const committed = await committedOffsets(admin, o.groupId, o.topics.transactions);
      const marks = await partitionRanges(admin, o.topics.transactions);
      await admin.disconnect();
      for (const p of marks) assert.equal(committed.get(p.partition), p.high);
    });

    it('a second run with nothing new appends no batch, gives the same dataset id and writes nothing, the DLQ included', async () => {
      const again = await ingest({ kafka, s3 }, o);
      assert.equal(again.batch, null);
      assert.equal(again.manifest?.sha256, location.sha256);
      assert.equal(again.written, false);
      assert.equal(again.dlqPublished, 0);
      assert.equal(again.manifest?.createdAt, first.manifest?.createdAt);
      assert.equal((await readTopic(kafka, o.topics.dlq)).length, 7);
    });

    it('a dataset left without its manifest (crash mid-write) is completed by the next run; a crashed batch’s file is never read', async () => {
      await s3.removeObject(bucket, snapshotKey(location, MANIFEST_FILE));
      const orphan = first.batch?.files[0].path.replace('part-00000000', 'part-00000001') ?? '';
      await s3.putObject(bucket, lakeKey(o.lake, orphan), Buffer.from('half a parquet file'));
      const again = await ingest({ kafka, s3 }, o);
      assert.equal(again.manifest?.sha256, location.sha256);
      assert.equal(again.written, true);
      const { columns } = await loadSnapshot(s3, location);
      assert.equal(columns.rows, dataset.size);
    });

    it('refuses a lake file that differs from its log entry, naming it', async () => {
      const file = first.batch?.files[1];
      assert.ok(file);
      const saved = await getObjectBuffer(s3, bucket, lakeKey(o.lake, file.path));
      await s3.putObject(bucket, lakeKey(o.lake, file.path), Buffer.from('not the file'));
      try {
        await assert.rejects(
          loadSnapshot(s3, location),
          new RegExp(`${file.path} has sha256 \\w+ \\(12 bytes\\), the log says ${file.sha256}`),
        );
      } finally {
        await s3.putObject(bucket, lakeKey(o.lake, file.path), saved);
      }
    });

    it('refuses to run beside another reader of the same group', async () => {
      const consumer = kafka.consumer({ groupId: o.groupId });
      await consumer.connect();
      await consumer.subscribe({ topic: o.topics.labels });
      await consumer.run({ eachMessage: async () => undefined });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      try {
        await assert.rejects(
          ingest({ kafka, s3 }, { ...o, groupWaitMs: 2000 }),
          /consumer group .* is \w+ with 1 member.* after waiting 2 s/,
        );
      } finally {
        await consumer.disconnect();
      }
    });
  });

  describe('crash drill', () => {
    const simArgs = ['--customers', '800', '--terminals', '1500', '--days', '60', '--seed', '11'];
    const dataset = simulate({ customers: 800, terminals: 1500, days: 60, seed: 11 });

    before(async () => {
      const produced = await cli(produceArgs('drill', simArgs));
      assert.equal(produced.code, 0, produced.stderr);
    });

    it('killed mid-read, run again: the same snapshot as an uninterrupted run, every transaction exactly once', async () => {
      const t = topicsFor('drill');
      const common = [
        '--transactions-topic',
        t.transactions,
        '--labels-topic',
        t.labels,
        '--dlq-topic',
        t.dlq,
        '--prefix',
        `test-datasets/${run}`,
        '--lake',
        `test-datasets/${run}/lake-drill-crash`,
      ];
      const crashGroup = `drill-crash-${run}`;
      let killedAt = '';
      const killed = await cli(['ingest', '--from', 'committed', '--group', crashGroup, ...common], (stderr, child) => {
        const match = /ingest read messages: (\d+)\/(\d+) \((\d+)%\)\n$/.exec(stderr);
        if (!killedAt && match && Number(match[3]) >= 10) {
          killedAt = `${match[1]}/${match[2]}`;
          child.kill('SIGKILL');
        }
      });
      assert.equal(killed.signal, 'SIGKILL', `the ingest was killed mid-read (${killed.stderr.slice(-300)})`);
      assert.ok(killedAt, 'killed after some messages were read');

      const admin = kafka.admin();
      await admin.connect();
      assert.equal((await committedOffsets(admin, crashGroup, t.transactions)).size, 0, 'nothing committed by the killed run');
      await admin.disconnect();

      const rerun = await cli(['ingest', '--from', 'committed', '--group', crashGroup, '--json', ...common]);
      assert.equal(rerun.code, 0, rerun.stderr);
      const resumed = JSON.parse(rerun.stdout);

      const uninterrupted = await ingest({ kafka, s3 }, options('drill', { groupId: `drill-clean-${run}` }));
      const files = (m: { files: Array<{ path: string; sha256: string }> } | null) => m?.files.map((f) => `${f.path} ${f.sha256}`);
      assert.deepEqual(files(resumed.manifest), files(uninterrupted.manifest), 'the same lake files, byte for byte');
      assert.ok(resumed.manifest.rows > 0 && resumed.manifest.rows === uninterrupted.manifest?.rows);

      assert.ok(uninterrupted.location);
      const { columns } = await loadSnapshot(s3, uninterrupted.location);
      assert.equal(columns.rows, dataset.size);
      const ids = columns.transactionId.map(Number).sort((a, b) => a - b);
      assert.deepEqual(
        ids,
        Array.from({ length: dataset.size }, (_, i) => i),
        'the produced ids, each once',
      );
      assert.equal(resumed.manifest.rejected.total, 0);
    });
  });

  describe('a declared card export: produce --csv --skip-bad, then ingest', () => {
    const feed = cardsFeed({ customers: 40, terminals: 80, days: 12, seed: 5 });
    const directory = mkdtempSync(path.join(tmpdir(), 'fraudops-cards-'));
    const env = { FRAUDOPS_CONFIG: path.join(directory, 'config.yaml'), RECORDS_PSEUDONYM_KEY: 'c'.repeat(64) };
    writeFileSync(env.FRAUDOPS_CONFIG, `${JSON.stringify({ records: CARDS_RECORDS }, null, 2)}\n`);
    const cardsConfig = loadConfig({ ...process.env, ...env });
    const cards = recordContract(cardsConfig);
    const lines = feed.csv.trimEnd().split('\n');
    // Two bad rows: an amount out of its declared bounds (line 6), and a row a day behind the latest (the last line).
    const fields = lines[5].split(',');
    const amt = fields.findIndex((f) => /^\d+\.\d\d$/.test(f));
    lines[5] = [...fields.slice(0, amt), '20000.00', ...fields.slice(amt + 1)].join(',');
    const early = lines[10].replace(/^(\w+),/, 'f00dbad0f00dbad0,').replace(/\d{4}-\d\d-\d\dT/, '2018-12-30T');
    lines.push(early);
    const file = path.join(directory, 'cards.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const args = (name: string) => {
      const t = topicsFor(name);
      return ['produce', '--csv', file, '--transactions-topic', t.transactions, '--labels-topic', t.labels, '--dlq-topic', t.dlq, '--json'];
    };
    after(() => rmSync(directory, { recursive: true, force: true }));

    it('without --skip-bad stops at the first bad row, naming line, column and rule, and publishes nothing', async () => {
      const stopped = await cli(args('cards-strict'), undefined, env);
      assert.equal(stopped.code, 1, stopped.stderr);
      assert.match(stopped.stderr, /cards\.csv line 6: amt must be a number in \[0, 10000\] \(records\.bounds\.amount\)/);
      const admin = kafka.admin();
      await admin.connect();
      const topics = await admin.listTopics();
      await admin.disconnect();
      assert.ok(!topics.includes(topicsFor('cards-strict').transactions), 'nothing was published');
    });

    it('with --skip-bad publishes the good rows and exactly one DLQ record per bad row, with the reason, scrubbed', async () => {
      const produced = await cli([...args('cards'), '--skip-bad'], undefined, env);
      assert.equal(produced.code, 0, produced.stderr);
      const counts = JSON.parse(produced.stdout);
      assert.equal(counts.transactions, feed.rows - 1);
      assert.equal(counts.labels, feed.rows - 1);
      assert.equal(counts.rejected, 2);
      const dlq = await readTopic(kafka, topicsFor('cards').dlq);
      assert.equal(dlq.length, 2);
      const bad = dlq.map((m) => JSON.parse(m.value)).sort((a, b) => a.line - b.line);
      assert.deepEqual(
        bad.map((b) => [b.line, b.reason, b.problems[0].field]),
        [
          [6, 'schema', 'amt'],
          [lines.length, 'out-of-order', 'trans_date_trans_time'],
        ],
      );
      assert.match(bad[1].problems[0].rule, /earlier than an earlier row's time; .*records\.lateness \(300 s\)/);
      assert.match(bad[0].value.cc_num, /^[0-9a-f]{32}$/);
      const text = dlq.map((m) => m.key + m.value).join('\n');
      for (const secret of feed.secrets) assert.ok(!text.includes(secret), 'no card number or personal value in the DLQ');
      for (const column of ['"first"', '"last"', '"street"', '"dob"']) assert.ok(!text.includes(column), `no ${column} in the DLQ`);
    });

    it('ingests into a snapshot with the declared columns, string ids, pseudonymized cards and nothing dropped', async () => {
      const result = await ingest({ kafka, s3 }, { ...options('cards'), contract: cards });
      assert.ok(result.location && result.manifest && result.batch);
      const { columns } = await loadSnapshot(s3, result.location, cards.declaration);
      const manifest = result.manifest;
      assert.equal(manifest.rows, feed.rows - 1);
      assert.equal(manifest.labelled, feed.rows - 1);
      assert.equal(manifest.rejected.total, 0);
      assert.deepEqual(manifest.declaration, cards.declaration);
      const columnsOf = async (kind: string) => {
        const file = result.batch?.files.find((f) => f.kind === kind);
        assert.ok(file, `a ${kind} file`);
        const data = await getObjectBuffer(s3, bucket, lakeKey(`test-datasets/${run}/lake-cards`, file.path));
        const schema = parquetMetadata(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer).schema;
        return schema.slice(1).map((element) => element.name);
      };
      assert.deepEqual(await columnsOf('transactions'), [
        'trans_num',
        'trans_date_trans_time',
        'cc_num',
        'merchant',
        'amt',
        'category',
        'city_pop',
      ]);
      assert.deepEqual(await columnsOf('labels'), ['trans_num', 'is_fraud']);
      for (let row = 0; row < columns.rows; row++) {
        assert.match(columns.transactionId[row], /^[0-9a-f]{16}$/);
        assert.match(columns.customerId[row], /^[0-9a-f]{32}$/);
        if (row > 0) assert.ok(columns.timestamp[row] >= columns.timestamp[row - 1], 'sorted by event time');
      }
      assert.ok(
        columns.terminalId.some((m) => /, "Mann" & /.test(m)),
        'merchant names as given',
      );
      assert.equal(await loadSnapshot(s3, result.location).then((s) => s.manifest.sha256), manifest.sha256);
      await assert.rejects(
        loadSnapshot(s3, result.location, contract.declaration),
        /ingested under another records: declaration \(records\.id/,
      );
      const stored = [
        JSON.stringify(manifest),
        JSON.stringify([columns.transactionId, columns.time, columns.customerId, columns.terminalId, columns.extras]),
      ].join('\n');
      for (const secret of feed.secrets) assert.ok(!stored.includes(secret), 'no card number or personal value in the snapshot');
      assert.equal(result.batch.rejects.bytes, 0);
    });
  });

  describe('produce', () => {
    it('stops cleanly on SIGINT and reports exactly what the topic holds', async () => {
      const name = 'sigint';
      let interrupted = false;
      const result = await cli(
        [
          'produce',
          '--simulate',
          '--customers',
          '300',
          '--days',
          '30',
          '--rate',
          '3000',
          '--batch-size',
          '200',
          ...produceArgs(name, []).slice(2),
        ],
        (stderr, child) => {
          if (!interrupted && /produce transactions: [1-9]\d*\//.test(stderr)) {
            interrupted = true;
            setTimeout(() => child.kill('SIGINT'), 500);
          }
        },
      );
      assert.equal(result.code, 130, result.stderr);
      const counts = JSON.parse(result.stdout);
      assert.equal(counts.interrupted, true);
      assert.ok(counts.transactions > 0);
      const admin = kafka.admin();
      await admin.connect();
      const held = (await partitionRanges(admin, topicsFor(name).transactions)).reduce((sum, p) => sum + p.high, 0);
      const labels = (await partitionRanges(admin, topicsFor(name).labels)).reduce((sum, p) => sum + p.high, 0);
      await admin.disconnect();
      assert.equal(held, counts.transactions);
      assert.equal(labels, counts.labels);
    });

    it('rejects bad flags naming the flag and the rule', async () => {
      const neither = await cli(['produce']);
      assert.equal(neither.code, 1);
      assert.match(neither.stderr, /exactly one of --csv <file> or --simulate/);
      const rate = await cli(['produce', '--simulate', '--rate', '0']);
      assert.equal(rate.code, 1);
      assert.match(rate.stderr, /--rate.*"0" is not a number > 0/);
      const from = await cli(['ingest', '--from', 'sideways']);
      assert.match(from.stderr, /--from.*Allowed choices are earliest, committed/);
      const stall = await cli(['ingest', '--stall-timeout', '0']);
      assert.match(stall.stderr, /--stall-timeout.*"0" is not a number of seconds in \[1, 3600\]/);
      const help = (await cli(['ingest', '--help'])).stdout;
      for (const flag of [
        '--from',
        '--group',
        '--prefix',
        '--transactions-topic',
        '--labels-topic',
        '--dlq-topic',
        '--stall-timeout',
        '--json',
      ]) {
        assert.ok(help.includes(flag), `ingest --help explains ${flag}`);
      }
      const csv = await cli(['produce', '--csv', '/nonexistent.csv']);
      assert.match(csv.stderr, /--csv \/nonexistent.csv: no such file/);
      const skip = await cli(['produce', '--simulate', '--skip-bad']);
      assert.match(skip.stderr, /--skip-bad applies to --csv only/);
      const produceHelp = (await cli(['produce', '--help'])).stdout;
      for (const flag of ['--csv', '--skip-bad', '--simulate', '--dlq-topic', '--label-delay-days']) {
        assert.ok(produceHelp.includes(flag), `produce --help explains ${flag}`);
      }
    });
  });

  after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    const mine = (await admin.listTopics()).filter((topic) => topic.endsWith(run));
    await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    await admin.disconnect();
    const keys = await listKeys(s3, bucket, `test-datasets/${run}/`);
    if (keys.length) await s3.removeObjects(bucket, keys);
  });
});
