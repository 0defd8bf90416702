// The producer without Kafka: what `fraudops produce` publishes for a CSV of a non-handbook declaration and for the
// simulator, the event-time order rule, and how a bad row is reported or sent to the DLQ.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BadRow, csvTransactions, dlqRecord, simulatedTransactions } from '../../cli/produce';
import { InvalidInputError } from '../../ml/errors';
import { HANDBOOK_DECLARATION, pseudonymizer, RecordContract, type TxRecord } from '../../records';
import { type OutgoingMessage, Pacer, publicationOrder, simulate, TimeOrder } from '../../simulator';
import { cardsDeclaration } from '../cards-feed';

const KEY = 'p'.repeat(40);
const pseudonym = pseudonymizer(KEY);

/** A card export: hex ids, 16–19 digit card numbers, merchants with commas and quotes, epoch seconds, personal columns. */
const CARDS = cardsDeclaration({
  columns: { category: 'categorical', city_pop: { kind: 'numeric', range: [0, 1e8] } },
  bounds: { amount: [0, 5000] },
  drop: ['first', 'street'],
  pseudonymize: ['customer'],
  lateness: '5m',
});
const contract = new RecordContract(CARDS, pseudonym);

const CARD_16 = '4532015112830366';
const CARD_19 = '6011000990139424123';
const T0 = 1_538_313_255;

const HEADER = 'first,is_fraud,amt,merchant,trans_num,category,unix_time,street,cc_num,city_pop';
/** Rows in file order; the third is 60 s behind the second (within the 5-minute lateness). */
const ROWS = [
  `Jennifer,0,12.50,"fraud_Kirlin, ""and"" Sons",a1f3c9e0,grocery_pos,${T0},"123 Main St, Apt 4",${CARD_16},3495`,
  `Jennifer,1,981.07,"Doe's ""Best"" Diner",b27d44aa,food_dining,${T0 + 120},"123 Main St, Apt 4",${CARD_16},3495`,
  `"Mary Ann",,44.00,plain merchant,0c9e11f7,misc_net,${T0 + 60},"9 Elm Rd",${CARD_19},120000`,
];
const csv = (...rows: string[]) => `${HEADER}\n${rows.join('\n')}\n`;

const messages = (records: Iterable<TxRecord>, delayDays = 7) => [...publicationOrder(records, contract, delayDays)];
const parsed = (list: OutgoingMessage[], stream: OutgoingMessage['stream']) =>
  list.filter((m) => m.stream === stream).map((m) => JSON.parse(m.value) as Record<string, unknown>);

describe('produce --csv with a declared (non-handbook) record', () => {
  const produced = messages(csvTransactions(csv(...ROWS), 'cards.csv', contract));

  it('publishes each row as declared: ids as given, the card pseudonymized, quoted merchants intact, no dropped column', () => {
    const tx = parsed(produced, 'transactions');
    assert.deepEqual(tx[0], {
      trans_num: 'a1f3c9e0',
      unix_time: String(T0),
      cc_num: pseudonym(CARD_16),
      merchant: 'fraud_Kirlin, "and" Sons',
      amt: 12.5,
      category: 'grocery_pos',
      city_pop: 3495,
    });
    assert.equal(tx[1].merchant, 'Doe\'s "Best" Diner');
    assert.equal(tx[2].cc_num, pseudonym(CARD_19));
    assert.match(String(tx[2].cc_num), /^[0-9a-f]{32}$/);
    assert.deepEqual(
      tx.map((m) => m.trans_num),
      ['a1f3c9e0', 'b27d44aa', '0c9e11f7'],
      'in-lateness disorder is published as given',
    );
    const keys = produced.filter((m) => m.stream === 'transactions').map((m) => m.key);
    assert.deepEqual(keys, [pseudonym(CARD_16), pseudonym(CARD_16), pseudonym(CARD_19)]);
    const everything = produced.map((m) => m.key + m.value).join('\n');
    for (const secret of [CARD_16, CARD_19, 'Jennifer', 'Mary Ann', 'Main St', 'Elm Rd', 'first', 'street']) {
      assert.ok(!everything.includes(secret), `${secret} never leaves the producer`);
    }
  });

  it('publishes the labels that rows carry, after the label delay, with the declared id and label fields', () => {
    const labels = parsed(produced, 'labels');
    assert.deepEqual(labels, [
      { trans_num: 'a1f3c9e0', cc_num: pseudonym(CARD_16), is_fraud: 0 },
      { trans_num: 'b27d44aa', cc_num: pseudonym(CARD_16), is_fraud: 1 },
    ]);
    const labelTimes = produced.filter((m) => m.stream === 'labels').map((m) => m.time);
    assert.deepEqual(labelTimes, [T0 + 7 * 86_400, T0 + 120 + 7 * 86_400]);
    assert.equal(produced.at(-1)?.stream, 'labels', 'labels come after the transactions of the next seven days');
  });

  it('stops at a bad row naming the file, line, column and rule', () => {
    const bad = ROWS[1].replace('981.07', 'abc');
    assert.throws(
      () => [...csvTransactions(csv(ROWS[0], bad), 'cards.csv', contract)],
      (err: unknown) => err instanceof InvalidInputError && /^cards\.csv line 3: amt must be a number in \[0, 5000\]/.test(err.message),
    );
    const noCard = ROWS[0].replace(CARD_16, '');
    assert.throws(() => [...csvTransactions(csv(noCard), 'cards.csv', contract)], /cards\.csv line 2: cc_num is required/);
    const badTime = ROWS[0].replace(String(T0), '2018-09-30');
    assert.throws(() => [...csvTransactions(csv(badTime), 'cards.csv', contract)], /line 2: unix_time must be seconds since 1970/);
  });

  it('refuses a row further back in time than records.lateness, and accepts one within it', () => {
    const late = ROWS[2].replace(String(T0 + 60), String(T0 + 120 - 301));
    assert.throws(
      () => [...csvTransactions(csv(ROWS[0], ROWS[1], late), 'cards.csv', contract)],
      /cards\.csv line 4: unix_time is 301 s earlier than an earlier row's time; .*records\.lateness \(300 s\)/,
    );
    const edge = ROWS[2].replace(String(T0 + 60), String(T0 + 120 - 300));
    assert.equal([...csvTransactions(csv(ROWS[0], ROWS[1], edge), 'cards.csv', contract)].length, 3);
    assert.throws(() => messages([recordOf(T0 + 400), recordOf(T0)]), /transaction t0: unix_time is 400 s earlier/);
  });

  it('with --skip-bad, hands every bad row to the DLQ with its line, reason and scrubbed values, and goes on', () => {
    const bad: BadRow[] = [];
    const broken = ROWS[1].replace('981.07', '-3');
    const late = ROWS[2].replace(String(T0 + 60), String(T0 - 3600));
    const good = [...csvTransactions(csv(ROWS[0], broken, late, 'too,few,fields'), 'cards.csv', contract, (b) => bad.push(b))];
    assert.deepEqual(
      good.map((r) => r.id),
      ['a1f3c9e0'],
    );
    assert.deepEqual(
      bad.map((b) => [b.line, b.reason, b.problems[0].field]),
      [
        [3, 'schema', 'amt'],
        [4, 'out-of-order', 'unix_time'],
        [5, 'schema', '(row)'],
      ],
    );
    const record = dlqRecord('cards.csv', bad[0]);
    assert.equal(record.key, 'cards.csv:3');
    assert.deepEqual(record.headers, { reason: 'schema', source: 'cards.csv:3' });
    const value = JSON.parse(record.value);
    assert.equal(value.line, 3);
    assert.match(value.problems[0].rule, /must be a number in \[0, 5000\]/);
    assert.equal(value.value.cc_num, pseudonym(CARD_16));
    assert.equal(value.value.amt, '-3');
    const text = bad.map((b) => dlqRecord('cards.csv', b).value).join('\n');
    for (const secret of [CARD_16, CARD_19, 'Jennifer', 'Main St', '"first"', '"street"']) {
      assert.ok(!text.includes(secret), `${secret} never reaches the DLQ`);
    }
  });
});

function recordOf(time: number): TxRecord {
  return { id: `t${time - T0}`, time, timeValue: time, customer: 'c', terminal: 'm', amount: 1, extras: {} };
}

describe('produce --simulate and the publication order', () => {
  const dataset = simulate({ customers: 40, terminals: 80, days: 10, seed: 5 });
  const handbook = new RecordContract(HANDBOOK_DECLARATION);

  it('reads the simulator rows as handbook records: the same records as the simulator makes', () => {
    const records = [...simulatedTransactions(dataset, handbook)];
    assert.equal(records.length, dataset.size);
    for (const row of [0, 1, Math.floor(dataset.size / 2), dataset.size - 1]) assert.deepEqual(records[row], dataset.record(row));
    assert.throws(
      () => [...simulatedTransactions(dataset, contract)].length,
      /--simulate writes the handbook's records .*trans_num is required/,
    );
  });

  it('publishes handbook messages as before: declared names, no label on transactions, labels after the delay', () => {
    const order = [...publicationOrder(dataset.records(), handbook, 7)];
    const tx = order.filter((m) => m.stream === 'transactions');
    const labels = order.filter((m) => m.stream === 'labels');
    assert.equal(tx.length, dataset.size);
    assert.equal(labels.length, dataset.size);
    const first = dataset.transaction(0);
    assert.deepEqual(JSON.parse(tx[0].value), {
      TRANSACTION_ID: '0',
      TX_DATETIME: first.TX_DATETIME,
      CUSTOMER_ID: String(first.CUSTOMER_ID),
      TERMINAL_ID: String(first.TERMINAL_ID),
      TX_AMOUNT: first.TX_AMOUNT,
      TX_TIME_SECONDS: first.TX_TIME_SECONDS,
      TX_TIME_DAYS: first.TX_TIME_DAYS,
    });
    assert.deepEqual(JSON.parse(labels[0].value), {
      TRANSACTION_ID: '0',
      CUSTOMER_ID: String(first.CUSTOMER_ID),
      TX_FRAUD: first.TX_FRAUD,
      TX_FRAUD_SCENARIO: first.TX_FRAUD_SCENARIO,
    });
    assert.equal(tx[0].key, String(first.CUSTOMER_ID));
    for (let i = 1; i < order.length; i++) assert.ok(order[i].time >= order[i - 1].time, 'merged in event-time order');
    const published = new Set<string>();
    for (const m of order) {
      const id = JSON.parse(m.value).TRANSACTION_ID as string;
      if (m.stream === 'transactions') published.add(id);
      else assert.ok(published.has(id), `label ${id} after its transaction`);
    }
  });

  it('TimeOrder accepts disorder up to the lateness and measures what lies beyond it', () => {
    const order = new TimeOrder(300);
    assert.deepEqual(
      [100, 500, 200, 199, 900, 1000, 400].map((t) => order.behind(t)),
      [0, 0, 0, 301, 0, 0, 600],
    );
  });

  it('Pacer spaces messages by event time and by rate', () => {
    let now = 0;
    const pacer = new Pacer({ speedup: 10, rate: 2 }, () => now);
    assert.equal(pacer.delayMs(0, 1000), 0);
    assert.equal(pacer.delayMs(1, 1000), 500, 'two per second');
    assert.equal(pacer.delayMs(2, 1100), 10_000, '100 event seconds at speedup 10');
    now = 10_000;
    assert.equal(pacer.delayMs(3, 1100), 0);
  });
});
