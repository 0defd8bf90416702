// The record contract (records/): declarations, time formats, ids, pseudonyms, CSV rows and the config overlay.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, loadConfig, parseConfig, projectRoot } from '../../config';
import {
  compareIds,
  csvRecords,
  HANDBOOK_DECLARATION,
  pseudonymizer,
  RecordContract,
  readTransactionsCsv,
  recordsSchema,
  resolveDeclaration,
  timeReader,
} from '../../records';
import { CARD_EXPORT } from '../cards-feed';

const root = projectRoot();
const settings = () => parse(readFileSync(path.join(root, 'config.yaml'), 'utf8'));
const secrets = { S3_ACCESS_KEY: 'fraudops', S3_SECRET_KEY: 'a-long-secret', API_TOKEN: 'a-test-token-of-16+' };
const KEY = 'k'.repeat(40);

/** The card-export declaration of the issue (and the README). */
const CARDS = {
  ...CARD_EXPORT,
  columns: { category: 'categorical', city_pop: { kind: 'numeric', range: [0, 1e8] } },
  bounds: { amount: [0, 5000] },
  drop: ['first', 'last', 'street', 'dob'],
  pseudonymize: ['customer'],
};

function configError(raw: unknown): string {
  try {
    parseConfig(raw, secrets, root);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

const withRecords = (records: unknown) => ({ ...settings(), records });

describe('record declaration', () => {
  it('defaults to the handbook record and accepts the card-export example', () => {
    const config = parseConfig(settings(), secrets, root);
    assert.equal(config.records.id, 'TRANSACTION_ID');
    assert.deepEqual(resolveDeclaration(config.records), HANDBOOK_DECLARATION);
    const cards = resolveDeclaration(recordsSchema.parse(CARDS));
    assert.equal(cards.latenessSeconds, 300);
    assert.equal(cards.maxFutureSeconds, 86_400);
    assert.deepEqual(
      cards.columns.map((c) => [c.name, c.kind, c.range]),
      [
        ['category', 'categorical', undefined],
        ['city_pop', 'numeric', [0, 1e8]],
      ],
    );
  });

  it('stops a bad declaration with the key and the rule', () => {
    assert.match(
      configError(withRecords({ ...CARDS, time: { column: 't', format: 'dd/mm/yyyy' } })),
      /records\.time\.format = "dd\/mm\/yyyy": .*unsupported time format/,
    );
    assert.match(
      configError(withRecords({ ...CARDS, terminal: 'cc_num' })),
      /records\.terminal = "cc_num": column "cc_num" is already declared as records\.customer/,
    );
    assert.match(
      configError(withRecords({ ...CARDS, drop: ['city_pop'] })),
      /records\.drop\.0 = "city_pop": .*dropped but used as records\.columns\.city_pop/,
    );
    assert.match(
      configError(withRecords({ ...CARDS, columns: { x: 'text' } })),
      /records\.columns\.x = "text": .*categorical \| numeric \| carried/,
    );
    assert.match(
      configError(withRecords({ ...CARDS, time: { column: 't', format: 'iso8601', timezone: 'Mars/Olympus' } })),
      /records\.time\.timezone .*IANA/,
    );
    assert.match(
      configError(withRecords({ ...CARDS, pseudonymize: ['amount'] })),
      /records\.pseudonymize\.0 = "amount": .*id \| customer \| terminal/,
    );
    assert.match(configError(withRecords({ ...CARDS, lateness: 'soon' })), /records\.lateness = "soon": a duration/);
    assert.match(configError(withRecords({ ...CARDS, colour: 'red' })), /records\.colour: unknown key/);
  });

  it('names the declaration key of a column missing from a CSV header', () => {
    const contract = new RecordContract(resolveDeclaration(recordsSchema.parse(CARDS)), pseudonymizer(KEY));
    const text = 'trans_num,unix_time,cc_num,amt,is_fraud,category,city_pop\nA1,1538313255,4111111111111111,1,0,food,100\n';
    assert.throws(
      () => [...csvRecords(text, 'cards.csv', contract, 'required')],
      /cards\.csv: the header lacks "merchant" \(records\.terminal\)/,
    );
  });
});

describe('event time', () => {
  it('reads a local time in a named zone: a DST gap is an error, an ambiguous time takes the earlier instant', () => {
    const brussels = timeReader({ format: 'YYYY-MM-DD HH:mm:ss', timezone: 'Europe/Brussels' });
    assert.equal(brussels.read('2018-07-01 12:00:00'), Date.UTC(2018, 6, 1, 10) / 1000);
    assert.equal(brussels.read('2018-01-01 12:00:00'), Date.UTC(2018, 0, 1, 11) / 1000);
    assert.ok(Number.isNaN(brussels.read('2018-03-25 02:30:00')), 'inside the spring-forward gap');
    assert.equal(brussels.read('2018-10-28 02:30:00'), Date.UTC(2018, 9, 28, 0, 30) / 1000, 'the first of the two 02:30');
    assert.ok(Number.isNaN(brussels.read('2018-02-30 10:00:00')));
    assert.match(brussels.rule, /Europe\/Brussels/);
  });

  it('reads ISO-8601 with an offset or Z only, and epoch seconds or milliseconds', () => {
    const iso = timeReader({ format: 'iso8601', timezone: 'UTC' });
    const instant = Date.UTC(2018, 8, 30, 13, 14, 15) / 1000;
    assert.equal(iso.read('2018-09-30T13:14:15Z'), instant);
    assert.equal(iso.read('2018-09-30T15:14:15+02:00'), instant);
    assert.equal(iso.read('2018-09-30T08:14:15-0500'), instant);
    assert.equal(iso.read('2018-09-30T13:14:15.250Z'), instant + 0.25);
    assert.ok(Number.isNaN(iso.read('2018-09-30T13:14:15')), 'no offset');
    assert.ok(Number.isNaN(iso.read(1538313255)));
    const seconds = timeReader({ format: 'epoch-seconds', timezone: 'UTC' });
    assert.equal(seconds.read(1538313255), 1538313255);
    assert.equal(seconds.read('1538313255'), 1538313255);
    assert.ok(Number.isNaN(seconds.read('yesterday')));
    assert.equal(timeReader({ format: 'epoch-millis', timezone: 'UTC' }).read(1538313255250), 1538313255.25);
  });
});

describe('records', () => {
  const cards = new RecordContract(resolveDeclaration(recordsSchema.parse(CARDS)), pseudonymizer(KEY));
  const raw = {
    trans_num: '9f1c2a',
    unix_time: 1538313255,
    cc_num: '4111111111111111111',
    merchant: 'Kuhn, "Lakin" & Co',
    amt: 57.3,
    category: 'grocery_pos',
    city_pop: 3495,
    first: 'Jennifer',
    street: '1 Main St',
  };

  it('keeps ids as strings, pseudonymizes the card and never copies a dropped column', () => {
    const read = cards.readTransaction(raw);
    assert.ok(read.value, JSON.stringify(read.problems));
    assert.equal(read.value.id, '9f1c2a');
    assert.match(read.value.customer, /^[0-9a-f]{32}$/);
    assert.equal(read.value.customer, pseudonymizer(KEY)('4111111111111111111'));
    assert.notEqual(read.value.customer, pseudonymizer('z'.repeat(40))('4111111111111111111'), 'another key, another pseudonym');
    assert.equal(read.value.terminal, 'Kuhn, "Lakin" & Co');
    const message = cards.transactionMessage(read.value);
    assert.deepEqual(Object.keys(message), ['trans_num', 'unix_time', 'cc_num', 'merchant', 'amt', 'category', 'city_pop']);
    assert.doesNotMatch(JSON.stringify(message), /4111111111111111111|Jennifer|Main St/);
    const again = cards.readTransaction(message, { admitted: true });
    assert.equal(again.value?.customer, read.value.customer, 'an admitted record is not pseudonymized twice');
    assert.equal(cards.readTransaction({ ...raw, cc_num: JSON.parse('4111111111111111111') }).problems[0]?.rule.includes('2^53'), true);
    assert.equal(HANDBOOK_DECLARATION.id, 'TRANSACTION_ID');
    assert.equal(
      new RecordContract(HANDBOOK_DECLARATION).readTransaction({
        TRANSACTION_ID: 7,
        TX_DATETIME: '2018-04-01 00:00:31',
        CUSTOMER_ID: 596,
        TERMINAL_ID: 3156,
        TX_AMOUNT: 57.16,
        TX_TIME_SECONDS: 31,
        TX_TIME_DAYS: 0,
      }).value?.id,
      '7',
    );
  });

  it('writes whole-number ids as JSON numbers only when asked (the simulator), and reads both forms back alike', () => {
    const handbook = new RecordContract(HANDBOOK_DECLARATION);
    const read = handbook.readTransaction({
      TRANSACTION_ID: '7',
      TX_DATETIME: '2018-04-01 00:00:31',
      CUSTOMER_ID: '0596',
      TERMINAL_ID: 3156,
      TX_AMOUNT: 57.16,
      TX_TIME_SECONDS: 31,
      TX_TIME_DAYS: 0,
    });
    assert.ok(read.value, JSON.stringify(read.problems));
    const asText = handbook.transactionMessage(read.value);
    const asNumbers = handbook.transactionMessage(read.value, 'integer');
    assert.deepEqual([asText.TRANSACTION_ID, asText.CUSTOMER_ID, asText.TERMINAL_ID], ['7', '0596', '3156']);
    assert.deepEqual(
      [asNumbers.TRANSACTION_ID, asNumbers.CUSTOMER_ID, asNumbers.TERMINAL_ID],
      [7, '0596', 3156],
      'a leading zero stays text',
    );
    assert.deepEqual(handbook.readTransaction(asNumbers).value, handbook.readTransaction(asText).value);
    assert.deepEqual(handbook.labelMessage({ ...read.value, label: 1 }, 'integer'), {
      TRANSACTION_ID: 7,
      CUSTOMER_ID: '0596',
      TX_FRAUD: 1,
    });
  });

  it('names the declared field and the rule of every problem', () => {
    const bad = cards.readTransaction(
      { ...raw, amt: 1e308, unix_time: 'noon', cc_num: 1.5, is_fraud: 1, city_pop: -3, extra: 1 },
      { strict: true, where: 'transactions[2].' },
    );
    assert.deepEqual(
      bad.problems.map((p) => p.field),
      [
        'transactions[2].cc_num',
        'transactions[2].unix_time',
        'transactions[2].amt',
        'transactions[2].city_pop',
        'transactions[2].is_fraud',
        'transactions[2].extra',
      ],
    );
    assert.match(bad.problems[2].rule, /\[0, 5000\] \(records\.bounds\.amount\)/);
    const label = cards.readLabel({ trans_num: '9f1c2a', is_fraud: true });
    assert.equal(label.value?.label, 1);
    assert.match(cards.readLabel({ trans_num: '9f1c2a', is_fraud: 'maybe' }).problems[0].rule, /0 or 1/);
    const scrubbed = cards.scrub({ ...raw, amt: 'x' });
    assert.doesNotMatch(JSON.stringify(scrubbed), /4111111111111111111|Jennifer|Main St/);
  });

  it('reads quoted CSV fields and reports a bad row with its line, column and rule', () => {
    const header = 'trans_num,unix_time,cc_num,merchant,amt,is_fraud,category,city_pop,first,last,street,dob';
    const rows = [
      'a1,1538313255,4111111111111111,"Kuhn, ""Lakin"" & Co",10.5,0,food,120,Ann,Lee,"1 Main St, Apt 2",1980-01-01',
      'b2,1538313256,4111111111111112,"Multi, Inc",11,1,travel,,Bob,Ray,"2 Oak\nFloor 3",1970-01-01',
      'c3,1538313257,4111111111111113,Shop,-4,0,food,5,Cy,Do,3 Elm,1990-01-01',
    ];
    const text = `${header}\r\n${rows.join('\r\n')}\r\n`;
    const all = [...csvRecords(text, 'cards.csv', cards, 'required')];
    assert.equal(all.length, 3);
    assert.deepEqual(all[1].problems, undefined);
    assert.equal(all[0].record?.terminal, 'Kuhn, "Lakin" & Co');
    assert.equal(all[1].record?.terminal, 'Multi, Inc');
    assert.equal(all[1].record?.extras.city_pop, null);
    assert.equal(all[2].line, 5, 'the quoted line break counts');
    assert.throws(
      () => [...readTransactionsCsv(text, 'cards.csv', cards, 'required')],
      /cards\.csv line 5: amt must be a number in \[0, 5000\]/,
    );
  });
});

describe('id order', () => {
  it('sorts whole-number ids by value before any other id, as a total order', () => {
    const ids = ['1a', '10', 'b', '9', '0', 'a10', '007'];
    assert.deepEqual([...ids].sort(compareIds), ['0', '9', '10', '007', '1a', 'a10', 'b']);
    assert.deepEqual([...ids].reverse().sort(compareIds), ['0', '9', '10', '007', '1a', 'a10', 'b']);
  });
});

describe('config overlay', () => {
  it('takes keys absent from FRAUDOPS_CONFIG from the repository config and generates the pseudonym key once', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-overlay-'));
    const file = path.join(dir, 'cards.yaml');
    writeFileSync(file, JSON.stringify({ topics: { transactions: 'card-tx' }, records: CARDS }));
    writeFileSync(path.join(dir, '.env'), '');
    const env = { ...secrets, FRAUDOPS_CONFIG: file };
    const config = loadConfig(env);
    assert.equal(config.topics.transactions, 'card-tx');
    assert.equal(config.topics.labels, settings().topics.labels);
    assert.equal(config.records.id, 'trans_num');
    assert.equal(config.records.columns.TX_TIME_SECONDS, undefined, 'records: is replaced, never merged with the handbook');
    const key = config.secrets.RECORDS_PSEUDONYM_KEY;
    assert.match(key ?? '', /^[0-9a-f]{64}$/);
    assert.match(readFileSync(path.join(dir, '.env'), 'utf8'), new RegExp(`RECORDS_PSEUDONYM_KEY=${key}`));
    assert.equal(loadConfig(env).secrets.RECORDS_PSEUDONYM_KEY, key, 'the second run reuses the key');
  });
});
