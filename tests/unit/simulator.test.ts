import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { registerSimulateCommands } from '../../cli/simulate';
import { InvalidInputError } from '../../ml/errors';
import { HANDBOOK_DECLARATION, RecordContract, readTransactionsCsv } from '../../records';
import { CSV_HEADER, csvLines, resolveSimulatorConfig, type SimulatorConfig, simulate, summarize, writeCsv } from '../../simulator';
import { SCENARIO2_WINDOW_DAYS, SCENARIO3_WINDOW_DAYS } from '../../simulator/frauds';
import { generateCustomerProfiles, generateTerminalProfiles } from '../../simulator/profiles';
import { generateTransactions, sortByTime } from '../../simulator/transactions';

const SMALL: Partial<SimulatorConfig> = { customers: 200, terminals: 400, days: 30, seed: 7 };
const DAY = 86400;
/** The handbook's scenario-1 rule: TX_AMOUNT > 220. */
const SCENARIO1_AMOUNT_CENTS = 22000;
const scratch = mkdtempSync(path.join(tmpdir(), 'fraudops-simulator-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The genuine transactions of a config in time order, before any fraud scenario (same draws as `simulate`). */
function genuineSorted(overrides: Partial<SimulatorConfig>) {
  const config = resolveSimulatorConfig(overrides);
  const terminals = generateTerminalProfiles(config.terminals, config.seed);
  const customers = generateCustomerProfiles(config.customers, config.seed, terminals, config.radius);
  return sortByTime(generateTransactions(customers, config.days, config.seed), config.days).sorted;
}

function parseCsv(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.split(','));
}

describe('simulator: determinism and layout', () => {
  const dataset = simulate(SMALL);

  it('writes a byte-identical CSV for the same config, and a different one for another seed', async () => {
    const first = path.join(scratch, 'a.csv');
    const second = path.join(scratch, 'b.csv');
    const other = path.join(scratch, 'c.csv');
    const bytes = await writeCsv(dataset, first);
    await writeCsv(simulate(SMALL), second);
    await writeCsv(simulate({ ...SMALL, seed: 8 }), other);
    const content = readFileSync(first);
    assert.equal(content.length, bytes);
    assert.ok(content.equals(readFileSync(second)));
    assert.ok(!content.equals(readFileSync(other)));
    assert.equal(content.toString('latin1'), CSV_HEADER + csvLines(dataset));
  });

  it("writes records of the handbook declaration: the CSV reads back, by the contract, as the simulator's records", async () => {
    const out = path.join(scratch, 'records.csv');
    await writeCsv(dataset, out);
    const contract = new RecordContract(HANDBOOK_DECLARATION);
    const read = [...readTransactionsCsv(readFileSync(out, 'utf8'), out, contract, 'required')];
    assert.equal(read.length, dataset.size);
    assert.deepEqual(read, [...dataset.records()]);
    const first = dataset.transaction(0);
    assert.deepEqual(dataset.record(0), {
      id: '0',
      time: Date.parse(`${first.TX_DATETIME.replace(' ', 'T')}Z`) / 1000,
      timeValue: first.TX_DATETIME,
      customer: String(first.CUSTOMER_ID),
      terminal: String(first.TERMINAL_ID),
      amount: first.TX_AMOUNT,
      label: first.TX_FRAUD,
      extras: { TX_TIME_SECONDS: first.TX_TIME_SECONDS, TX_TIME_DAYS: first.TX_TIME_DAYS, TX_FRAUD_SCENARIO: first.TX_FRAUD_SCENARIO },
    });
  });

  it('keeps the draws of existing customers when customers are added', () => {
    const config = resolveSimulatorConfig(SMALL);
    const terminals = generateTerminalProfiles(config.terminals, config.seed);
    const fewer = generateCustomerProfiles(200, config.seed, terminals, config.radius);
    const more = generateCustomerProfiles(260, config.seed, terminals, config.radius);
    assert.deepEqual(more.meanAmount.subarray(0, 200), fewer.meanAmount);
    assert.deepEqual(more.terminalStart.subarray(0, 201), fewer.terminalStart);
    // Generation runs customer by customer: the first customers' rows are a prefix of the larger run's rows.
    const a = generateTransactions(fewer, config.days, config.seed);
    const b = generateTransactions(more, config.days, config.seed);
    assert.ok(b.count > a.count);
    assert.deepEqual(b.timeSeconds.subarray(0, a.count), a.timeSeconds.subarray(0, a.count));
    assert.deepEqual(b.terminalId.subarray(0, a.count), a.terminalId.subarray(0, a.count));
    assert.deepEqual(b.amountCents.subarray(0, a.count), a.amountCents.subarray(0, a.count));
    assert.ok(b.customerId[a.count] >= 200);
  });

  it('numbers the rows in time order with consistent times, days, datetimes and amounts', () => {
    const rows = parseCsv(csvLines(dataset));
    assert.ok(rows.length > 1000);
    const start = Date.UTC(2018, 3, 1);
    let previous = -1;
    rows.forEach((row, index) => {
      assert.equal(row.length, 9);
      const [id, datetime, , , amount, seconds, days] = row;
      assert.equal(Number(id), index);
      const time = Number(seconds);
      assert.ok(time >= previous, `row ${index} goes back in time`);
      previous = time;
      const secondOfDay = time - Number(days) * DAY;
      assert.ok(secondOfDay > 0 && secondOfDay < DAY, `row ${index}: time of day ${secondOfDay}`);
      assert.equal(datetime, new Date(start + time * 1000).toISOString().slice(0, 19).replace('T', ' '));
      assert.match(amount, /^\d+\.\d\d$/);
    });
  });

  it('gives each customer exactly the terminals within the radius, and uses only those', () => {
    const { customers, terminals, columns, config } = dataset;
    let withoutTerminal = 0;
    for (let c = 0; c < customers.count; c++) {
      const expected: number[] = [];
      for (let t = 0; t < terminals.count; t++) {
        if (Math.hypot(terminals.x[t] - customers.x[c], terminals.y[t] - customers.y[c]) < config.radius) expected.push(t);
      }
      assert.deepEqual([...customers.terminalIds.subarray(customers.terminalStart[c], customers.terminalStart[c + 1])], expected);
      if (expected.length === 0) withoutTerminal++;
    }
    assert.ok(withoutTerminal > 0, 'the small config should include customers without a terminal');
    const active = new Set<number>();
    for (let row = 0; row < columns.count; row++) {
      const c = columns.customerId[row];
      const t = columns.terminalId[row];
      active.add(c);
      assert.ok(Math.hypot(terminals.x[t] - customers.x[c], terminals.y[t] - customers.y[c]) < config.radius);
    }
    assert.equal(summarize(dataset).activeCustomers, active.size);
  });

  it('yields the same transactions day by day, with labels, as row by row', () => {
    const batches = [...dataset.dayBatches()];
    assert.deepEqual(
      batches.map((batch) => batch.day),
      Array.from({ length: 30 }, (_, d) => d),
    );
    assert.equal(batches[0].date, '2018-04-01');
    assert.equal(batches[29].date, '2018-04-30');
    const flattened = batches.flatMap((batch) => batch.transactions);
    assert.deepEqual(flattened, [...dataset]);
    for (const batch of batches) for (const tx of batch.transactions) assert.equal(tx.TX_TIME_DAYS, batch.day);
    assert.ok(flattened.some((tx) => tx.TX_FRAUD === 1 && tx.TX_FRAUD_SCENARIO > 0));
    assert.equal([...dataset.dayBatches(29)].length, 1);
  });
});

describe('simulator: fraud scenarios follow the handbook rules exactly', () => {
  const dataset = simulate(SMALL);
  const { columns, frauds } = dataset;
  const genuine = genuineSorted(SMALL);
  const dayOf = (row: number) => Math.floor(columns.timeSeconds[row] / DAY);
  const timesChosen = new Int32Array(columns.count);
  for (const entry of frauds.compromisedCustomers) for (const row of entry.chosenRows) timesChosen[row]++;
  const inScenario2Window = new Uint8Array(columns.count);
  for (const { day, terminalIds } of frauds.compromisedTerminals) {
    for (let row = 0; row < columns.count; row++) {
      if (terminalIds.includes(columns.terminalId[row]) && dayOf(row) >= day && dayOf(row) < day + SCENARIO2_WINDOW_DAYS) {
        inScenario2Window[row] = 1;
      }
    }
  }

  it('only relabels and rescales: same rows, amounts × 5 per scenario-3 pick', () => {
    assert.equal(genuine.count, columns.count);
    assert.deepEqual(genuine.timeSeconds, columns.timeSeconds);
    assert.deepEqual(genuine.customerId, columns.customerId);
    for (let row = 0; row < columns.count; row++) {
      assert.equal(columns.amountCents[row], genuine.amountCents[row] * 5 ** timesChosen[row]);
    }
  });

  it('runs scenarios 2 and 3 from day 0 to the last day − 1', () => {
    assert.equal(frauds.lastDay, dayOf(columns.count - 1));
    assert.deepEqual(
      frauds.compromisedTerminals.map((entry) => entry.day),
      Array.from({ length: frauds.lastDay }, (_, d) => d),
    );
    assert.equal(frauds.compromisedCustomers.length, frauds.lastDay);
    for (const entry of frauds.compromisedTerminals) assert.equal(new Set(entry.terminalIds).size, 2);
    for (const entry of frauds.compromisedCustomers) assert.equal(new Set(entry.customerIds).size, 3);
  });

  it('scenario 1: every amount > 220 is fraud; scenario 1 only for a drawn amount > 220 not overwritten later', () => {
    let scenario1 = 0;
    for (let row = 0; row < columns.count; row++) {
      if (columns.amountCents[row] > SCENARIO1_AMOUNT_CENTS) assert.equal(columns.fraud[row], 1);
      const drawnAbove = genuine.amountCents[row] > SCENARIO1_AMOUNT_CENTS;
      const expectScenario1 = drawnAbove && !inScenario2Window[row] && timesChosen[row] === 0;
      assert.equal(columns.scenario[row] === 1, expectScenario1, `row ${row}`);
      if (columns.scenario[row] === 1) {
        scenario1++;
        assert.ok(columns.amountCents[row] > SCENARIO1_AMOUNT_CENTS);
      }
    }
    assert.ok(scenario1 > 0, 'the small config should produce scenario-1 frauds');
  });

  it('scenario 2: every transaction on a compromised terminal in its 28-day window is fraud (2, or 3 if picked later)', () => {
    let scenario2 = 0;
    for (let row = 0; row < columns.count; row++) {
      if (inScenario2Window[row]) {
        assert.equal(columns.fraud[row], 1);
        assert.equal(columns.scenario[row], timesChosen[row] > 0 ? 3 : 2);
      } else assert.notEqual(columns.scenario[row], 2);
      if (columns.scenario[row] === 2) scenario2++;
    }
    assert.ok(scenario2 > 0);
  });

  it('scenario 3: int(n / 3) of the compromised customers’ n transactions in the 14-day window, × 5, scenario 3', () => {
    for (const { day, customerIds, candidates, chosenRows } of frauds.compromisedCustomers) {
      let n = 0;
      for (let row = 0; row < columns.count; row++) {
        if (customerIds.includes(columns.customerId[row]) && dayOf(row) >= day && dayOf(row) < day + SCENARIO3_WINDOW_DAYS) n++;
      }
      assert.equal(candidates, n);
      assert.equal(chosenRows.length, Math.floor(n / 3));
      assert.equal(new Set(chosenRows).size, chosenRows.length);
      for (const row of chosenRows) {
        assert.ok(customerIds.includes(columns.customerId[row]));
        assert.ok(dayOf(row) >= day && dayOf(row) < day + SCENARIO3_WINDOW_DAYS);
      }
    }
    for (let row = 0; row < columns.count; row++) {
      assert.equal(columns.scenario[row] === 3, timesChosen[row] > 0);
      const expectFraud = genuine.amountCents[row] > SCENARIO1_AMOUNT_CENTS || inScenario2Window[row] === 1 || timesChosen[row] > 0;
      assert.equal(columns.fraud[row], expectFraud ? 1 : 0, `row ${row}`);
    }
    assert.ok(frauds.compromisedCustomers.some((entry) => entry.chosenRows.length > 0));
  });
});

describe('simulator: the default (handbook) dataset', () => {
  it('lands near the book: about 1.75 M transactions, 0.84 % fraud, shares about 7 / 62 / 31 %', () => {
    const summary = summarize(simulate());
    assert.ok(summary.rows > 1.7e6 && summary.rows < 1.81e6, `rows ${summary.rows}`);
    assert.ok(summary.fraudRate > 0.007 && summary.fraudRate < 0.01, `fraud rate ${summary.fraudRate}`);
    assert.ok(summary.scenarioShares[1] > 0.04 && summary.scenarioShares[1] < 0.1, `share 1 ${summary.scenarioShares[1]}`);
    assert.ok(summary.scenarioShares[2] > 0.5 && summary.scenarioShares[2] < 0.72, `share 2 ${summary.scenarioShares[2]}`);
    assert.ok(summary.scenarioShares[3] > 0.22 && summary.scenarioShares[3] < 0.42, `share 3 ${summary.scenarioShares[3]}`);
    assert.ok(summary.meanAmount > 51 && summary.meanAmount < 58, `mean amount ${summary.meanAmount}`);
    assert.ok(summary.activeCustomers >= 4975 && summary.activeCustomers <= 5000, `active ${summary.activeCustomers}`);
    // π·5² ≈ 78.5 terminals per customer, fewer near the edges of the square.
    assert.ok(summary.meanTerminalsPerCustomer > 70 && summary.meanTerminalsPerCustomer < 80);
  });
});

describe('simulator: configuration and the simulate command', () => {
  it('rejects a bad parameter with InvalidInputError naming the field and the rule', () => {
    const cases: [Partial<SimulatorConfig>, RegExp][] = [
      [{ customers: 0 }, /customers = 0: must be a whole number >= 1/],
      [{ terminals: 2.5 }, /terminals = 2.5/],
      [{ days: 0 }, /days = 0/],
      [{ startDate: '2018-02-30' }, /startDate = "2018-02-30": must be a valid date/],
      [{ radius: 0 }, /radius = 0: must be a finite number > 0/],
      [{ seed: -1 }, /seed = -1/],
    ];
    for (const [overrides, message] of cases) {
      assert.throws(
        () => simulate(overrides),
        (err: unknown) => err instanceof InvalidInputError && message.test(err.message),
      );
    }
  });

  async function run(args: string[]): Promise<{ stdout: string; stderr: string; error?: unknown }> {
    const program = new Command('fraudops').exitOverride();
    let stderr = '';
    program.configureOutput({ writeErr: (text) => (stderr += text), writeOut: () => undefined });
    registerSimulateCommands(program);
    const logged: string[] = [];
    const original = console.log;
    const originalWrite = process.stderr.write;
    console.log = (text: string) => logged.push(text);
    process.stderr.write = ((text: string | Uint8Array) => {
      stderr += String(text);
      return true;
    }) as typeof process.stderr.write;
    try {
      await program.parseAsync(['simulate', ...args], { from: 'user' });
      return { stdout: logged.join('\n'), stderr };
    } catch (error) {
      return { stdout: logged.join('\n'), stderr, error };
    } finally {
      console.log = original;
      process.stderr.write = originalWrite;
    }
  }

  it('rejects bad flags naming the flag, the value and the rule', async () => {
    const out = path.join(scratch, 'flags.csv');
    const cases: [string[], RegExp][] = [
      [['--customers', '0'], /--customers.*'0'.*whole number >= 1/],
      [['--terminals', '1.5'], /--terminals.*'1\.5'.*whole number/],
      [['--days', 'ten'], /--days.*'ten'.*whole number/],
      [['--start-date', '2018-13-01'], /--start-date.*'2018-13-01'.*YYYY-MM-DD/],
      [['--radius', '-2'], /--radius.*'-2'.*> 0/],
      [['--seed', '1e3x'], /--seed.*'1e3x'.*whole number/],
    ];
    for (const [flags, message] of cases) {
      const { stderr, error } = await run([...flags, '--out', out]);
      assert.ok(error instanceof CommanderError, `${flags.join(' ')} should fail`);
      assert.match(stderr, message);
    }
    const missingDir = await run(['--out', path.join(scratch, 'no-such-dir', 'x.csv')]);
    assert.match(missingDir.stderr, /--out.*does not exist/);
    const noOut = await run([]);
    assert.match(noOut.stderr, /--out/);
  });

  it('writes the CSV and prints a JSON summary that matches the file', async () => {
    const out = path.join(scratch, 'cli.csv');
    const { stdout, stderr, error } = await run([
      '--customers',
      '150',
      '--terminals',
      '300',
      '--days',
      '20',
      '--seed',
      '3',
      '--out',
      out,
      '--json',
    ]);
    assert.equal(error, undefined);
    const summary = JSON.parse(stdout);
    const rows = parseCsv(readFileSync(out, 'latin1'));
    assert.deepEqual(rows[0], CSV_HEADER.trim().split(','));
    assert.equal(summary.rows, rows.length - 1);
    assert.equal(summary.frauds, rows.slice(1).filter((row) => row[7] === '1').length);
    assert.equal(summary.scenarioCounts[3], rows.slice(1).filter((row) => row[8] === '3').length);
    assert.equal(summary.config.customers, 150);
    assert.match(stderr, /rows written: .*100%/);
  });
});
