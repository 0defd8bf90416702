// Snapshots without Kafka or S3: the Parquet columns of a declaration and back, the schema and its hash, and the
// builder reading messages by the contract (string ids, pseudonyms, scrubbed rejects, duplicates, labels).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { SnapshotBuilder } from '../../dataset/builder';
import {
  columnsFromRecords,
  declarationMismatch,
  decodeColumns,
  encodeColumns,
  recordAt,
  type SnapshotColumns,
} from '../../dataset/snapshot';
import { HANDBOOK_DECLARATION, pseudonymizer, RecordContract, recordsSchema, resolveDeclaration, type TxRecord } from '../../records';
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
