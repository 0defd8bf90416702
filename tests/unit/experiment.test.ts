import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { decodeSplit, encodeSplit } from '../../activities/features';
import { projectRoot } from '../../config';
import { splitFeatures } from '../../ml/experiment';
import { DAY_SECONDS } from '../../ml/features';
import { HANDBOOK_PROTOCOL, type LabelledTransactions, protocolFor, protocolSplit } from '../../ml/protocol';
import { simulate, writeCsv } from '../../simulator';
import { CARDS_RECORDS, cardsFeed } from '../cards-feed';

const DAY0 = Date.parse('2018-07-01T00:00:00Z') / 1000;

/** One transaction per (customer, day) at noon; `frauds` lists [customer, day] pairs that are fraud. */
function grid(customers: number, days: number, frauds: Array<[number, number]>): LabelledTransactions {
  const rows: Array<{ id: number; t: number; c: number; f: number }> = [];
  for (let d = 0; d < days; d++) {
    for (let c = 0; c < customers; c++) {
      rows.push({ id: rows.length, t: DAY0 + d * DAY_SECONDS + 43_200 + c, c, f: frauds.some(([fc, fd]) => fc === c && fd === d) ? 1 : 0 });
    }
  }
  return {
    rows: rows.length,
    transactionId: rows.map((r) => `tx-${r.id}`),
    timestamp: rows.map((r) => r.t),
    customerId: rows.map((r) => `card-${r.c}`),
    terminalId: rows.map(() => 'shop'),
    amount: rows.map(() => 10),
    fraud: rows.map((r) => r.f),
  };
}

describe('handbook protocol split', () => {
  const options = { trainStart: '2018-07-08', trainDays: 7, delayDays: 7, testDays: 7, validationDays: 7 };

  it('takes validation, training and test periods by date, and skips the delay', () => {
    const data = grid(3, 35, []);
    const split = protocolSplit(data, options);
    const days = (rows: number[]) => [...new Set(rows.map((i) => Math.floor((data.timestamp[i] - DAY0) / DAY_SECONDS)))];
    assert.deepEqual(days(split.validation), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(days(split.train), [7, 8, 9, 10, 11, 12, 13]);
    assert.deepEqual(days(split.test), [21, 22, 23, 24, 25, 26, 27]);
    assert.deepEqual(split.periods.test, { from: '2018-07-22', to: '2018-07-28' });
    assert.deepEqual([...new Set(split.testDay)], [0, 1, 2, 3, 4, 5, 6]);
  });

  it('removes cards known compromised: training frauds, then frauds of training day + 7 + i − 1 for test day i', () => {
    // customer 0: fraud in training (day 10); customer 1: fraud on day 16 = first training day 7 + 7 + 3 − 1 → known from test day 3;
    // customer 2: fraud on day 22 (a test day): never removed by the rule (its labels are not known yet).
    const data = grid(4, 35, [
      [0, 10],
      [1, 16],
      [2, 22],
    ]);
    const split = protocolSplit(data, options);
    const testCustomersOnDay = (day: number) => split.test.filter((_, j) => split.testDay[j] === day).map((i) => data.customerId[i]);
    for (let day = 0; day < 7; day++) {
      const expected = ['card-1', 'card-2', 'card-3'].filter((c) => !(c === 'card-1' && day >= 3));
      assert.deepEqual(testCustomersOnDay(day), expected, `test day ${day}`);
    }
    assert.equal(split.removedKnownCompromised, 7 + 4);
  });

  it('takes the handbook dates when the data covers them, else places the protocol at the end of the labelled data', () => {
    const shape = { trainDays: 7, delayDays: 7, testDays: 7, validationDays: 7 };
    const may = grid(2, 40, []); // 2018-07-01 to 2018-08-09: the handbook's test period ends 2018-08-14
    assert.deepEqual(protocolFor(may, shape, '2018-07-08'), { protocol: { ...shape, trainStart: '2018-07-08' }, placement: 'given' });
    // The last day (2018-08-09) is not known to be whole: the test period ends the day before (2018-08-02 to 2018-08-08).
    assert.deepEqual(protocolFor(may, shape), { protocol: { ...shape, trainStart: '2018-07-19' }, placement: 'latest' });
    const covering = grid(1, 60, []); // to 2018-08-29
    const handbook = { ...shape, trainStart: HANDBOOK_PROTOCOL.trainStart };
    assert.deepEqual(protocolFor(covering, shape), { protocol: handbook, placement: 'handbook' });
  });

  it("the features step hands the split on through S3 bytes with the test cards' string ids intact", () => {
    const data = grid(5, 35, [
      [0, 8],
      [3, 9],
      [4, 22],
    ]);
    const split = splitFeatures(data, options);
    const decoded = decodeSplit(encodeSplit(split));
    assert.deepEqual(decoded.test.customerId, split.test.customerId);
    assert.ok(split.test.customerId.every((id) => id.startsWith('card-')));
    assert.deepEqual(decoded, split);
  });

  it('rejects an unlabelled row in use, empty periods and bad lengths', () => {
    const data = grid(2, 35, []);
    const unlabelled = { ...data, fraud: Array.from(data.fraud, (f, i) => (i === 20 ? -1 : f)) };
    assert.throws(() => protocolSplit(unlabelled, options), /has no label/);
    assert.throws(() => protocolSplit(data, { ...options, trainStart: '2019-01-01' }), /no transaction in the training period/);
    assert.throws(() => protocolSplit(data, { ...options, trainDays: 0 }), /trainDays = 0: must be a whole number >= 1/);
    assert.throws(() => protocolSplit(data, { ...options, trainStart: '2018-13-01' }), /not a date/);
  });
});

describe('fraudops experiment (CLI, small simulated dataset)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-experiment-'));
  const csv = path.join(dir, 'tx.csv');
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'experiment', ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });
  const small = ['--data', csv, '--train-start', '2018-05-01', '--epochs', '2', '--hidden', '16', '--json'];

  before(async () => {
    await writeCsv(simulate({ customers: 500, terminals: 1000, days: 60, seed: 2 }), csv);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the protocol with DP at ε = 1 and reports metrics, the privacy guarantee and timings', () => {
    const result = cli([...small, '--dp', 'on', '--target-epsilon', '1', '--delta', '1e-5', '--save-bundle', path.join(dir, 'bundle')]);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    for (const key of ['auc_roc', 'average_precision', 'card_precision_at_100']) {
      assert.ok(json.test[key] >= 0 && json.test[key] <= 1, `${key} = ${json.test[key]}`);
    }
    assert.ok(json.privacy.epsilon <= 1 + 1e-9 && json.privacy.epsilon > 0.5, `ε ${json.privacy.epsilon}`);
    assert.equal(json.privacy.delta, 1e-5);
    assert.equal(json.privacy.covered, true, json.privacy.reasons.join('; '));
    assert.ok(json.seconds.total > 0);
    assert.equal(json.data.train.rows > 0 && json.data.test.rows > 0, true);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'bundle', 'manifest.json'), 'utf8'));
    assert.ok(manifest.files['model.json'] && manifest.files['privacy.json']);
  });

  it('non-private with SMOTE: no (ε, δ), and says why', () => {
    const result = cli([...small, '--dp', 'off', '--balance', 'smote', '--epochs', '8', '--learning-rate', '0.01']);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.privacy.epsilon, null);
    assert.equal(json.privacy.covered, false);
    assert.ok(json.test.auc_roc > 0.6, `the model ranks frauds above chance: AUC ${json.test.auc_roc}`);
    assert.ok(json.data.train.examplesAfterBalance > json.data.train.rows, 'SMOTE added rows');
  });

  /** A copy of the CSV with its lines rewritten. */
  const variant = (name: string, edit: (rows: string[]) => string[]): string => {
    const file = path.join(dir, name);
    writeFileSync(file, edit(readFileSync(csv, 'utf8').trimEnd().split('\n')).join('\n'));
    return file;
  };

  it('names the flag and the rule for bad input: flags, an unknown column, NaN, a training split with one class', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--data', csv, '--balance', 'magic'], /--balance.*Allowed choices are smote, class-weight, stratified, none/],
      [['--data', csv, '--train-start', '2018-02-30x'], /--train-start.*not a date/],
      [['--data', csv, '--epochs', '0'], /--epochs.*not a whole number in \[1, 1000\]/],
      [['--data', csv, '--dp', 'off', '--balance', 'stratified'], /stratified means class-stratified Poisson sampling/],
      [['--data', path.join(dir, 'missing.csv')], /--data .*missing.csv: no such file/],
      [['--data', csv, '--train-start', '2019-06-01'], /no transaction in the training period/],
      [[], /exactly one of --data <file.csv> or --dataset <sha256>/],
      [
        [
          '--data',
          variant('no-amount.csv', (rows) =>
            rows.map((r) =>
              r
                .split(',')
                .filter((_, j) => j !== 4)
                .join(','),
            ),
          ),
        ],
        /header lacks "TX_AMOUNT" \(records\.amount\)/,
      ],
      [
        [
          '--data',
          variant('nan.csv', (rows) =>
            rows.map((r, i) => (i === 9 ? r.replace(/,([\d.]+),(\d+),(\d+),([01]),([0-3])$/, ',NaN,$2,$3,$4,$5') : r)),
          ),
        ],
        /line 10: TX_AMOUNT must be a number in \[0, 100000\] \(records\.bounds\.amount\)/,
      ],
      [
        ['--data', variant('no-fraud.csv', (rows) => rows.map((r, i) => (i === 0 ? r : r.replace(/,[01],[0-3]$/, ',0,0'))))],
        /class|positive|fraud/i,
      ],
    ];
    for (const [args, message] of cases) {
      const result = cli(args);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });

  it('explains every flag in --help', () => {
    const help = cli(['--help']).stdout;
    for (const flag of [
      '--data',
      '--dataset',
      '--train-start',
      '--train-days',
      '--delay-days',
      '--test-days',
      '--dp',
      '--target-epsilon',
      '--delta',
      '--balance',
      '--json',
    ]) {
      assert.match(help, new RegExp(`${flag}[ ,<]`), flag);
    }
  });
});

describe('fraudops experiment on a feed of another shape, declared under records: (FRAUDOPS_CONFIG overlay)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fraudops-experiment-cards-'));
  const csv = path.join(dir, 'cards.csv');
  const config = path.join(dir, 'config.yaml');
  const handbookCsv = path.join(dir, 'handbook.csv');
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(projectRoot(), 'bin', 'fraudops.cjs'), 'experiment', ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, FRAUDOPS_CONFIG: config },
    });

  before(async () => {
    // Only records: (the card number pseudonymized, its key generated into a .env beside this file); every other key
    // comes from the repository's config.yaml.
    writeFileSync(config, stringify({ records: CARDS_RECORDS }));
    const feed = cardsFeed({ customers: 500, terminals: 1000, days: 60, seed: 2 }); // 2019-01-01 to 2019-03-01
    writeFileSync(csv, feed.csv);
    await writeCsv(simulate({ customers: 20, terminals: 40, days: 3, seed: 1 }), handbookCsv);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs end to end on its own header, string ids and offset times, placing the protocol at the end of its dates', () => {
    const result = cli(['--data', csv, '--dp', 'off', '--epochs', '2', '--hidden', '16', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.match(
      result.stderr,
      /does not cover the handbook's protocol dates .*placed at the end of the labelled data: training from 2019-02-08/,
    );
    assert.equal(json.settings.protocol_placement, 'latest');
    // The last day (2019-03-01) is not known to be whole: the test period ends the day before.
    assert.deepEqual(json.data.periods, {
      validation: { from: '2019-02-01', to: '2019-02-07' },
      train: { from: '2019-02-08', to: '2019-02-14' },
      test: { from: '2019-02-22', to: '2019-02-28' },
    });
    for (const key of ['auc_roc', 'average_precision', 'card_precision_at_100']) {
      assert.ok(json.test[key] >= 0 && json.test[key] <= 1, `${key} = ${json.test[key]}`);
    }
    assert.ok(json.data.train.frauds > 0 && json.data.test.rows > 0);
  });

  it('takes --train-start as given, and names the declared column a CSV of another header lacks', () => {
    const given = cli(['--data', csv, '--train-start', '2019-02-01', '--dp', 'on', '--epochs', '1', '--hidden', '8', '--json']);
    assert.equal(given.status, 0, given.stderr);
    const json = JSON.parse(given.stdout);
    assert.equal(json.settings.protocol_placement, 'given');
    assert.equal(json.data.periods.train.from, '2019-02-01');
    const handbook = cli(['--data', handbookCsv]);
    assert.notEqual(handbook.status, 0);
    assert.match(handbook.stderr, /the header lacks "trans_num" \(records\.id\), "trans_date_trans_time" \(records\.time\.column\)/);
  });
});
