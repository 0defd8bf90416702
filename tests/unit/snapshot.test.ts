// Snapshots without Kafka or S3: the Parquet columns of a declaration and back, the schema and its hash, and the
// builder reading messages by the contract (string ids, pseudonyms, scrubbed rejects, duplicates, labels).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { SnapshotBuilder } from '../../dataset/builder';
import {
  batchId,
  checkLog,
  encodeBatch,
  entriesUntil,
  isoDay,
  LAKE_BATCH_FORMAT,
  type LakeBatch,
  type LakeFile,
  logEnd,
  planWindow,
} from '../../dataset/lake';
import {
  columnsFromRecords,
  declarationMismatch,
  decodeColumns,
  emptyLabels,
  encodeColumns,
  type LabelColumns,
  recordAt,
  type SnapshotColumns,
} from '../../dataset/snapshot';
import { readWindow } from '../../dataset/window';
import {
  formatUtc,
  HANDBOOK_DECLARATION,
  pseudonymizer,
  RecordContract,
  recordsSchema,
  resolveDeclaration,
  type TxRecord,
} from '../../records';
import { publicationOrder, simulate } from '../../simulator';
import { cardsDeclaration } from '../cards-feed';

const KEY = 's'.repeat(40);
const pseudonym = pseudonymizer(KEY);
const CARDS = cardsDeclaration({
  columns: { category: 'categorical', city_pop: 'numeric', note: 'carried' },
  drop: ['first', 'dob'],
  pseudonymize: ['customer'],
});
const cards = new RecordContract(CARDS, pseudonym);
/** The handbook roles with other extra columns. */
const HANDBOOK_RECORDS_SHAPE = {
  id: 'id',
  time: { column: 'when', format: 'YYYY-MM-DD HH:mm:ss' },
  customer: 'card',
  terminal: 'shop',
  amount: 'amt',
  label: 'fraud',
};
const CARD = '4532015112830366123';
const T0 = 1_538_313_255;

function cardRecord(i: number, label?: 0 | 1): TxRecord {
  return {
    id: `${(0xa000 + i).toString(16)}ff`,
    time: T0 + 10 * i,
    timeValue: T0 + 10 * i,
    customer: pseudonym(i % 2 ? CARD : '4111111111111111'),
    terminal: `Merchant "${i % 3}", Inc.`,
    amount: 10 + i,
    label,
    extras: { category: i % 2 ? 'gas' : 'food', city_pop: i * 100, note: i % 2 ? `n${i}` : i },
  };
}

const fileOf = (data: Uint8Array) => data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;

async function roundTrip(columns: SnapshotColumns, declaration = CARDS) {
  const { data, schema } = encodeColumns(columns, declaration);
  return { data, schema, decoded: await decodeColumns(data, declaration) };
}

describe('snapshot columns ⇄ Parquet', () => {
  it('keeps the handbook layout: the handbook names, integer ids read back as strings, integer carried and label columns', async () => {
    const dataset = simulate({ customers: 30, terminals: 60, days: 8, seed: 2 });
    const columns = columnsFromRecords(dataset.records(), HANDBOOK_DECLARATION);
    const { data, schema, decoded } = await roundTrip(columns, HANDBOOK_DECLARATION);
    assert.deepEqual(decoded, columns);
    assert.deepEqual(
      schema.columns.map((c) => `${c.name}:${c.type}${c.nullable ? '?' : ''}`),
      [
        'TRANSACTION_ID:INT32',
        'TX_DATETIME:STRING',
        'CUSTOMER_ID:INT32',
        'TERMINAL_ID:INT32',
        'TX_AMOUNT:DOUBLE',
        'TX_FRAUD:INT32?',
        'TX_TIME_SECONDS:INT32?',
        'TX_TIME_DAYS:INT32?',
        'TX_FRAUD_SCENARIO:INT32?',
      ],
    );
    // What pandas or DuckDB see: the handbook's columns and values, its integer ids as integers.
    const [row] = await parquetReadObjects({ file: fileOf(data), rowEnd: 1 });
    assert.deepEqual(row, dataset.transaction(0));
    // One id that is not a whole number below 2^31 makes its column text, read back the same.
    const mixed = { ...columns, customerId: columns.customerId.map((id, i) => (i === 3 ? `0${id}` : id)) };
    const again = await roundTrip(mixed, HANDBOOK_DECLARATION);
    assert.deepEqual(again.decoded, mixed);
    assert.equal(again.schema.columns.find((c) => c.name === 'CUSTOMER_ID')?.type, 'STRING');
  });

  it('stores a declared record by its declared names: string ids, epoch times as numbers, nulls for missing labels', async () => {
    const records = [cardRecord(3, 1), cardRecord(0), cardRecord(1, 0), cardRecord(2)];
    const columns = columnsFromRecords(records, CARDS);
    assert.deepEqual(columns.transactionId, ['a000ff', 'a001ff', 'a002ff', 'a003ff'], 'sorted by time');
    const { data, schema, decoded } = await roundTrip(columns);
    assert.deepEqual(decoded, columns);
    assert.deepEqual(recordAt(decoded, 3), cardRecord(3, 1));
    assert.deepEqual(
      schema.columns.map((c) => `${c.name}:${c.type}`),
      [
        'trans_num:STRING',
        'unix_time:DOUBLE',
        'cc_num:STRING',
        'merchant:STRING',
        'amt:DOUBLE',
        'is_fraud:INT32',
        'category:STRING',
        'city_pop:DOUBLE',
        'note:JSON',
      ],
    );
    const rows = await parquetReadObjects({ file: fileOf(data) });
    assert.deepEqual(rows[0], {
      trans_num: 'a000ff',
      unix_time: T0,
      cc_num: pseudonym('4111111111111111'),
      merchant: 'Merchant "0", Inc.',
      amt: 10,
      is_fraud: null,
      category: 'food',
      city_pop: 0,
      note: 0,
    });
    assert.ok(!Buffer.from(data).includes(CARD), 'no raw card number in the file');
  });

  it('gives carried columns the type their values have: INT64 past 32 bits, BOOLEAN, STRING when always null', async () => {
    const declaration = resolveDeclaration(
      recordsSchema.parse({ ...HANDBOOK_RECORDS_SHAPE, columns: { big: 'carried', flag: 'carried', none: 'carried', ratio: 'carried' } }),
    );
    const records: TxRecord[] = [0, 1, 2].map((i) => ({
      id: String(i),
      time: T0 + i,
      timeValue: `2018-09-30 13:14:1${5 + i}`,
      customer: '7',
      terminal: '9',
      amount: 1,
      label: undefined,
      extras: { big: 2 ** 40 + i, flag: i % 2 === 0, none: null, ratio: i / 3 },
    }));
    const { schema, decoded } = await roundTrip(columnsFromRecords(records, declaration), declaration);
    assert.deepEqual(
      schema.columns.slice(-4).map((c) => `${c.name}:${c.type}`),
      ['big:INT64', 'flag:BOOLEAN', 'none:STRING', 'ratio:DOUBLE'],
    );
    assert.deepEqual(
      [0, 1, 2].map((i) => recordAt(decoded, i)),
      records,
    );
  });

  it('hashes the declaration with the columns, and names the key where another declaration differs', () => {
    const columns = columnsFromRecords([cardRecord(0)], CARDS);
    const other = { ...CARDS, amount: 'amount' };
    assert.notEqual(encodeColumns(columns, CARDS).schema.sha256, encodeColumns(columns, other).schema.sha256);
    assert.equal(encodeColumns(columns, CARDS).schema.declaration, CARDS);
    assert.equal(declarationMismatch(CARDS, { ...CARDS, latenessSeconds: 1 }), undefined);
    assert.match(declarationMismatch(CARDS, other) ?? '', /records\.amount is "amount" here, "amt" in the snapshot/);
    assert.match(declarationMismatch(HANDBOOK_DECLARATION, CARDS) ?? '', /^records\.id/);
  });
});

describe('snapshot builder', () => {
  const slice = (topic: string, to: number) => ({ topic, partitions: [{ partition: 0, from: 0, to }] });
  const message = (record: Record<string, unknown>) => JSON.stringify(record);
  const raw = {
    trans_num: 'c0ffee',
    unix_time: T0,
    cc_num: CARD,
    merchant: 'Kirlin, "and" Sons',
    amt: 12.5,
    category: 'gas',
    city_pop: 3495,
    note: 'x',
    first: 'Jennifer',
  };

  it('reads admitted and outside messages by the contract, joins labels, rejects duplicates, scrubs what it rejects', () => {
    const [admittedTx, admittedLabel] = [...publicationOrder([cardRecord(1, 1)], cards, 0)];
    const builder = new SnapshotBuilder({ transactions: slice('tx', 6), labels: slice('labels', 3) }, cards);
    builder.addTransaction(0, 0, admittedTx.key, admittedTx.value, true);
    builder.addTransaction(0, 1, CARD, message(raw));
    builder.addTransaction(0, 2, CARD, message({ ...raw, amt: -1, dob: '1970-01-01' }));
    builder.addTransaction(0, 3, CARD, message({ ...raw, unix_time: T0 + 5 }));
    builder.addTransaction(0, 4, CARD, '{"trans_num": "c0ffee", "cc_num": "4532');
    builder.addTransaction(0, 5, null, null);
    builder.addLabel(0, 0, admittedLabel.key, admittedLabel.value, true);
    builder.addLabel(0, 1, CARD, message({ trans_num: 'c0ffee', cc_num: CARD, is_fraud: 'yes' }));
    builder.addLabel(0, 2, CARD, message({ trans_num: 'c0ffee', cc_num: CARD, is_fraud: true }));
    assert.equal(builder.complete, true);
    const { columns, rejects, content } = builder.build();

    assert.deepEqual(columns.transactionId, ['c0ffee', 'a001ff']);
    assert.deepEqual(columns.customerId, [pseudonym(CARD), pseudonym(CARD)], 'outside messages pseudonymized, admitted ones kept');
    assert.deepEqual([...columns.fraud], [1, 1]);
    assert.equal(columns.terminalId[0], 'Kirlin, "and" Sons');
    assert.equal(content.labelled, 2);
    assert.equal(content.timeRange.first, '2018-09-30 13:14:15');

    assert.deepEqual(
      rejects.map((r) => [r.topic, r.offset, r.reason, r.problems?.[0]?.field]),
      [
        ['labels', 1, 'label-schema', 'is_fraud'],
        ['tx', 2, 'schema', 'amt'],
        ['tx', 3, 'duplicate-transaction-id', 'trans_num'],
        ['tx', 4, 'invalid-json', undefined],
        ['tx', 5, 'empty-message', undefined],
      ],
    );
    const kept = JSON.stringify(rejects);
    for (const secret of [CARD, 'Jennifer', '1970-01-01', '"dob"', '"first"']) assert.ok(!kept.includes(secret), `${secret} is not kept`);
    const schemaReject = rejects.find((r) => r.reason === 'schema');
    assert.equal(schemaReject?.key, null, 'an outside key may be a card number');
    assert.equal(JSON.parse(schemaReject?.value ?? '{}').cc_num, pseudonym(CARD));
    assert.equal(rejects.find((r) => r.reason === 'invalid-json')?.value, null, 'text that is not a JSON object is not kept');
  });
});

describe('the lake: partitions, the log, windows', () => {
  const DAY = 86_400;
  const day0 = Date.parse('2018-04-01T00:00:00Z') / 1000;
  const handbook = new RecordContract(HANDBOOK_DECLARATION);
  const record = (id: number, day: number, label?: 0 | 1): TxRecord => ({
    id: String(id),
    time: day0 + day * DAY + id,
    timeValue: formatUtc(day0 + day * DAY + id),
    customer: String(id % 3),
    terminal: String(id % 5),
    amount: 10 + id,
    label,
    extras: { TX_TIME_SECONDS: day * DAY + id, TX_TIME_DAYS: day, TX_FRAUD_SCENARIO: label === undefined ? null : label },
  });
  const labelsOf = (records: TxRecord[]): LabelColumns => {
    const labels = emptyLabels(records.length, HANDBOOK_DECLARATION.labelColumns);
    records.forEach((r, i) => {
      labels.transactionId[i] = r.id;
      labels.fraud[i] = r.label ?? 0;
      labels.extras.TX_FRAUD_SCENARIO[i] = r.extras.TX_FRAUD_SCENARIO;
    });
    return labels;
  };
  /** A batch of `records` (unlabelled) and `labels`, as ingest writes it. */
  function batch(seq: number, records: TxRecord[], labels: TxRecord[], previous?: LakeBatch) {
    const transactions = columnsFromRecords(
      records.map((r) => ({ ...r, label: undefined })),
      HANDBOOK_DECLARATION,
    );
    const sources = {
      transactions: { topic: 'tx', partitions: [{ partition: 0, from: seq * 10, to: seq * 10 + 10 }] },
      labels: { topic: 'labels', partitions: [{ partition: 0, from: seq * 10, to: seq * 10 + 10 }] },
    };
    const days = [previous?.newestDay ?? '', ...records.map((r) => isoDay(r.time))].sort();
    const newestDay = days[days.length - 1] || null;
    const id = batchId(sources);
    const { files, bytes } = encodeBatch(
      seq,
      id,
      { transactions, labels: labelsOf(labels) },
      HANDBOOK_DECLARATION,
      newestDay ?? '0000-01-01',
    );
    const entry: LakeBatch = {
      format: LAKE_BATCH_FORMAT,
      seq,
      id,
      sources,
      declaration: HANDBOOK_DECLARATION,
      newestDay,
      files,
      rejects: { path: '', sha256: '', bytes: 0, total: 0, byReason: {} },
      createdAt: '',
    };
    return { entry, bytes };
  }

  it('partitions by event day, files labels under the newest day, joins them at read time (last wins), drops a repeated id', async () => {
    const a = [record(1, 0), record(2, 0), record(3, 1)];
    const b = [record(4, 1), record(5, 2), { ...record(2, 2), amount: 99 }];
    const first = batch(0, a, [{ ...record(1, 0), label: 1 }]);
    const second = batch(
      1,
      b,
      [
        { ...record(1, 0), label: 0 },
        { ...record(3, 1), label: 1 },
        { ...record(5, 2), label: 1 },
      ],
      first.entry,
    );
    assert.deepEqual(
      first.entry.files.map((f) => [f.kind, f.date, f.rows]),
      [
        ['transactions', '2018-04-01', 2],
        ['transactions', '2018-04-02', 1],
        ['labels', '2018-04-02', 1],
      ],
    );
    assert.match(first.entry.files[0].path, /^transactions\/date=2018-04-01\/part-00000000-[0-9a-f]{16}\.parquet$/);
    const bytes = new Map(Object.entries({ ...first.bytes, ...second.bytes }));
    const fetch = async (f: LakeFile) => bytes.get(f.path) as Uint8Array;

    const plan = planWindow([first.entry, second.entry], 2);
    assert.deepEqual(plan?.window, { from: '2018-04-02', to: '2018-04-03', days: 2 });
    const { columns, counts } = await readWindow(plan?.files ?? [], HANDBOOK_DECLARATION, fetch);
    // A window holds each id once; id 2's first copy (day 1) is outside this one, so its repeat stands.
    assert.deepEqual(columns.transactionId, ['3', '4', '2', '5'], 'days 2 and 3, merged from two batches, in time order');
    assert.deepEqual([...columns.fraud], [1, -1, -1, 1]);
    assert.equal(counts.duplicates, 0);
    assert.equal(counts.unmatchedLabels, 1, 'the label of transaction 1 (day 1, before the window)');

    const all = await readWindow(planWindow([first.entry, second.entry], 3)?.files ?? [], HANDBOOK_DECLARATION, fetch);
    assert.deepEqual(all.columns.transactionId, ['1', '2', '3', '4', '5']);
    assert.equal(all.columns.amount[1], 12, 'the first of a repeated id wins');
    assert.deepEqual([...all.columns.fraud], [0, -1, 1, -1, 1], 'the last label wins');
    assert.equal(all.counts.labelUpdates, 1);
    assert.equal(all.counts.duplicates, 1);

    assert.equal(entriesUntil([first.entry, second.entry], { tx: [10], labels: [5] }).length, 1, 'the shortest prefix that reaches until');
    assert.equal(entriesUntil([first.entry, second.entry], { tx: [11] }).length, 2);
    assert.throws(() => checkLog([second.entry], 'l'), /lake l: log entry 0 is missing or repeated \(found 1\)/);
    assert.deepEqual([...logEnd([first.entry, second.entry], 'tx')], [[0, 20]]);
  });

  it('keeps the label columns out of a transaction part and reads it back without them', async () => {
    const columns = columnsFromRecords([record(1, 0, 1)], HANDBOOK_DECLARATION);
    const { data, schema } = encodeColumns(columns, handbook.declaration, { labels: false });
    assert.deepEqual(
      schema.columns.map((c) => c.name),
      ['TRANSACTION_ID', 'TX_DATETIME', 'CUSTOMER_ID', 'TERMINAL_ID', 'TX_AMOUNT', 'TX_TIME_SECONDS', 'TX_TIME_DAYS'],
    );
    const back = await decodeColumns(data, handbook.declaration, { labels: false });
    assert.deepEqual([...back.fraud], [-1]);
    assert.equal(back.extras.TX_FRAUD_SCENARIO[0], null);
    assert.equal(back.extras.TX_TIME_DAYS[0], 0);
  });
});
