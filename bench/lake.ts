// Which engine reads a training window from the lake: hyparquet (the columnar reader the snapshots already use) or
// DuckDB's Node API over the same Parquet files (its S3 reader is an extension it downloads at run time, which is not
// reachable here, so it gets the files through our S3 client into a temporary folder). Builds a lake of N simulated
// days as daily ingests would (a batch a day: that day's transactions, the labels due by then) in the local stack's
// S3, then reads the window of all N days both ways into the snapshot's columns (what validation and features take)
// and checks that both give the same rows. Prints one JSON object. Needs the stack (`make up`).
//
// DuckDB is not a dependency: `npm install --no-save @duckdb/node-api` first, or point DUCKDB_MODULE at an install;
// without it the DuckDB side is reported as skipped. BENCH_DAYS (60), BENCH_CUSTOMERS (5000), BENCH_TERMINALS (10000),
// BENCH_REPEATS (3).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createS3, ensureBucket, listKeys, putObjectBuffer } from '../clients/s3';
import { lakeFetcher, lakeKey } from '../clients/snapshot-store';
import { loadConfig } from '../config';
import { addDays, batchId, encodeBatch, isoDay, LAKE_BATCH_FORMAT, type LakeBatch, type LakeFile, planWindow } from '../dataset/lake';
import { columnsFromRecords, emptyColumns, emptyLabels, extraColumnsOf, type SnapshotColumns } from '../dataset/snapshot';
import { readWindow } from '../dataset/window';
import { HANDBOOK_DECLARATION, RecordContract, type Scalar, type TxRecord, timeReader } from '../records';
import { simulate } from '../simulator';

const DAYS = Number(process.env.BENCH_DAYS ?? 60);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 5000);
const TERMINALS = Number(process.env.BENCH_TERMINALS ?? 10000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const LABEL_DELAY_DAYS = 7;
const log = (line: string) => process.stderr.write(`${line}\n`);
const declaration = HANDBOOK_DECLARATION;
const contract = new RecordContract(declaration);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number[] }> {
  const seconds: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now();
    value = await run();
    seconds.push((performance.now() - started) / 1000);
  }
  return { value: value as T, seconds };
}

/** The lake as `DAYS` daily batches: day d's transactions and the labels of day d − delay. */
function dailyBatches(records: TxRecord[]): Array<{ entry: LakeBatch; bytes: Record<string, Uint8Array> }> {
  const byDay = new Map<string, TxRecord[]>();
  for (const r of records) {
    const day = isoDay(r.time);
    const list = byDay.get(day);
    if (list) list.push(r);
    else byDay.set(day, [r]);
  }
  const days = [...byDay.keys()].sort();
  return days.map((day, seq) => {
    const transactions = columnsFromRecords(byDay.get(day) ?? [], declaration);
    transactions.fraud.fill(-1);
    const due = byDay.get(addDays(day, -LABEL_DELAY_DAYS)) ?? [];
    const labels = emptyLabels(due.length, declaration.labelColumns);
    due.forEach((r, i) => {
      labels.transactionId[i] = r.id;
      labels.fraud[i] = r.label ?? 0;
      for (const name of declaration.labelColumns) labels.extras[name][i] = r.extras[name] ?? null;
    });
    const sources = {
      transactions: { topic: 'bench', partitions: [{ partition: 0, from: seq, to: seq + 1 }] },
      labels: { topic: 'bench-labels', partitions: [] },
    };
    const id = batchId(sources);
    const { files, bytes } = encodeBatch(seq, id, { transactions, labels }, declaration, day);
    const entry: LakeBatch = {
      format: LAKE_BATCH_FORMAT,
      seq,
      id,
      sources,
      declaration,
      newestDay: day,
      files,
      rejects: { path: '', sha256: '', bytes: 0, total: 0, byReason: {} },
      createdAt: new Date().toISOString(),
    };
    return { entry, bytes };
  });
}

interface DuckDb {
  DuckDBInstance: { create(path: string, options?: Record<string, string>): Promise<{ connect(): Promise<DuckConnection> }> };
}
interface DuckConnection {
  run(sql: string): Promise<{ getColumnsObjectJS(): Promise<Record<string, unknown[]>> }>;
}

async function loadDuckDb(): Promise<DuckDb | string> {
  try {
    return (await import(process.env.DUCKDB_MODULE ?? '@duckdb/node-api')) as DuckDb;
  } catch (err) {
    return `@duckdb/node-api is not installed (${(err as Error).message.split('\n')[0]}): npm install --no-save @duckdb/node-api`;
  }
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
const list = (paths: string[]) => `[${paths.map((p) => `'${p.replaceAll("'", "''")}'`).join(', ')}]`;

/** The window through DuckDB: the last label of a transaction wins (log order = file name order), rows by time then id. */
async function duckWindow(connection: DuckConnection, txPaths: string[], labelPaths: string[]): Promise<SnapshotColumns> {
  const d = declaration;
  const labelColumns = [d.label, ...d.labelColumns].map(quote);
  const sql = `
    WITH t AS (SELECT * FROM read_parquet(${list(txPaths)})),
    l AS (
      SELECT ${quote(d.id)}, ${labelColumns.join(', ')} FROM read_parquet(${list(labelPaths)}, filename = true, file_row_number = true)
      QUALIFY row_number() OVER (PARTITION BY ${quote(d.id)} ORDER BY filename DESC, file_row_number DESC) = 1
    )
    SELECT t.*, ${labelColumns.map((c) => `l.${c}`).join(', ')} FROM t LEFT JOIN l USING (${quote(d.id)})
    ORDER BY t.${quote(d.time.column)}, t.${quote(d.id)}`;
  const result = await (await connection.run(sql)).getColumnsObjectJS();
  const rows = result[d.id].length;
  const columns = emptyColumns(rows, extraColumnsOf(d));
  const ids = (values: unknown[], target: string[]) => {
    for (let i = 0; i < rows; i++) target[i] = String(values[i]);
  };
  ids(result[d.id], columns.transactionId);
  ids(result[d.customer], columns.customerId);
  ids(result[d.terminal], columns.terminalId);
  const time = timeReader(d.time);
  const when = result[d.time.column] as Array<string | number>;
  const amount = result[d.amount] as number[];
  const label = result[d.label] as Array<number | null>;
  for (let i = 0; i < rows; i++) {
    columns.time[i] = when[i];
    columns.timestamp[i] = time.read(when[i]);
    columns.amount[i] = amount[i];
    columns.fraud[i] = label[i] === null ? -1 : Number(label[i]);
  }
  for (const name of extraColumnsOf(d)) {
    const values = result[name] as Scalar[];
    for (let i = 0; i < rows; i++) columns.extras[name][i] = typeof values[i] === 'bigint' ? Number(values[i]) : values[i];
  }
  return columns;
}

function sameRows(a: SnapshotColumns, b: SnapshotColumns): boolean {
  if (a.rows !== b.rows) return false;
  for (let i = 0; i < a.rows; i++) {
    if (a.transactionId[i] !== b.transactionId[i] || a.fraud[i] !== b.fraud[i] || a.amount[i] !== b.amount[i] || a.time[i] !== b.time[i])
      return false;
  }
  return true;
}

async function main() {
  const config = loadConfig();
  const s3 = createS3(config);
  const bucket = config.stack.s3.bucket;
  await ensureBucket(config, s3);
  const lake = `bench-lake/${Date.now().toString(36)}`;
  log(`simulating ${DAYS} days of ${CUSTOMERS} customers`);
  const sim = simulate({ customers: CUSTOMERS, terminals: TERMINALS, days: DAYS + LABEL_DELAY_DAYS, seed: 1 });
  const records: TxRecord[] = [];
  for (let i = 0; i < sim.size; i++) {
    const read = contract.readTransaction(sim.transaction(i), { labels: 'required' });
    if (read.value) records.push(read.value);
  }
  log('writing the lake: a batch a day');
  const written = performance.now();
  const batches = dailyBatches(records);
  for (const { bytes } of batches)
    for (const [key, data] of Object.entries(bytes)) await putObjectBuffer(s3, bucket, lakeKey(lake, key), data);
  const writeSeconds = (performance.now() - written) / 1000;
  const plan = planWindow(
    batches.map((b) => b.entry),
    DAYS,
  );
  if (!plan) throw new Error('empty lake');
  const lakeBytes = plan.files.reduce((sum, f) => sum + f.bytes, 0);
  const fetch = lakeFetcher(s3, bucket, lake);

  log('hyparquet: S3 → columns');
  const withFetch = await timed(() => readWindow(plan.files, declaration, fetch));
  const fetched = await timed(async () => new Map(await Promise.all(plan.files.map(async (f) => [f.path, await fetch(f)] as const))));
  const inMemory = (file: LakeFile) => Promise.resolve(fetched.value.get(file.path) as Uint8Array);
  const decodeOnly = await timed(() => readWindow(plan.files, declaration, inMemory));
  const rows = withFetch.value.columns.rows;

  const duck = await loadDuckDb();
  let duckdb: Record<string, unknown>;
  if (typeof duck === 'string') duckdb = { skipped: duck };
  else {
    log('DuckDB: S3 → local files → SQL → columns');
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-bench-lake-'));
    try {
      const local = (f: LakeFile) => path.join(dir, f.path.replaceAll('/', '_'));
      const stage = async () => {
        for (const f of plan.files) writeFileSync(local(f), await fetch(f));
      };
      const db = await duck.DuckDBInstance.create(':memory:');
      const connection = await db.connect();
      const txPaths = plan.files.filter((f) => f.kind === 'transactions').map(local);
      const labelPaths = plan.files.filter((f) => f.kind === 'labels').map(local);
      const staged = await timed(stage);
      const query = await timed(() => duckWindow(connection, txPaths, labelPaths));
      const threads = (await (await connection.run("SELECT current_setting('threads') AS t")).getColumnsObjectJS()).t[0];
      duckdb = {
        version: '@duckdb/node-api (see package-lock or DUCKDB_MODULE)',
        threads: Number(threads),
        stage_seconds: median(staged.seconds),
        query_to_columns_seconds: median(query.seconds),
        total_seconds: median(staged.seconds) + median(query.seconds),
        runs: { stage: staged.seconds, query: query.seconds },
        same_rows_as_hyparquet: sameRows(query.value, withFetch.value.columns),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const keys = await listKeys(s3, bucket, `${lake}/`);
  if (keys.length) await s3.removeObjects(bucket, keys);
  console.log(
    JSON.stringify(
      {
        benchmark: 'lake-window',
        days: DAYS,
        customers: CUSTOMERS,
        terminals: TERMINALS,
        rows,
        files: plan.files.length,
        lake_bytes: lakeBytes,
        lake_write_seconds: writeSeconds,
        repeats: REPEATS,
        hyparquet: {
          total_seconds: median(withFetch.seconds),
          fetch_seconds: median(fetched.seconds),
          decode_join_seconds: median(decodeOnly.seconds),
          runs: { total: withFetch.seconds, fetch: fetched.seconds, decode: decodeOnly.seconds },
        },
        duckdb,
        cpus: (await import('node:os')).cpus().length,
        note: 'both read the same files from the local S3 into the snapshot columns (ids as strings, time as written, epoch seconds, labels joined, the last label winning, rows by time then id); DuckDB reads staged local copies (its httpfs extension cannot be downloaded here), staging counted',
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
