import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  calendarFeatures,
  computeColumnFeatures,
  computeFeatures,
  DAY_SECONDS,
  FEATURE_COUNT,
  FEATURE_NAMES,
  type FeatureInput,
  FeatureState,
  WINDOW_DAYS,
} from '../../ml/features';
import { HANDBOOK_DECLARATION, RecordContract } from '../../records';
import { featureInputOf } from '../../serving/online-features';
import { publicationOrder, simulate } from '../../simulator';

type Tx = FeatureInput & { fraud: 0 | 1 };

/** A small deterministic month and a half of transactions (mulberry32), sorted by time. */
function syntheticTransactions(count: number, seed: number): Tx[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const start = Date.UTC(2018, 3, 1) / 1000;
  const times = Array.from({ length: count }, () => start + Math.floor(random() * 45 * DAY_SECONDS)).sort((a, b) => a - b);
  return times.map((timestamp, i) => ({
    transactionId: `tx${i.toString(16)}`,
    timestamp,
    customerId: `4000${String(Math.floor(random() * 60)).padStart(12, '0')}`,
    terminalId: `shop ${Math.floor(random() * 25)}, "Main St"`,
    amount: Math.round(random() * 20000) / 100,
    fraud: random() < 0.1 ? 1 : 0,
  }));
}

/** The handbook definitions, computed directly from all transactions (O(n²)). */
function bruteForce(txs: Tx[], delayDays = 7): Float64Array {
  const out = new Float64Array(txs.length * FEATURE_COUNT);
  txs.forEach((tx, i) => {
    const row = out.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT);
    const date = new Date(tx.timestamp * 1000);
    row[0] = tx.amount;
    row[1] = [0, 6].includes(date.getUTCDay()) ? 1 : 0;
    row[2] = date.getUTCHours() <= 6 ? 1 : 0;
    WINDOW_DAYS.forEach((n, w) => {
      const own = txs.slice(0, i + 1).filter((o) => o.customerId === tx.customerId && o.timestamp > tx.timestamp - n * DAY_SECONDS);
      row[3 + 2 * w] = own.length;
      row[4 + 2 * w] = own.reduce((sum, o) => sum + o.amount, 0) / own.length;
      const edge = tx.timestamp - delayDays * DAY_SECONDS;
      const terminal = txs
        .slice(0, i)
        .filter((o) => o.terminalId === tx.terminalId && o.timestamp <= edge && o.timestamp > edge - n * DAY_SECONDS);
      row[9 + 2 * w] = terminal.length;
      row[10 + 2 * w] = terminal.length ? terminal.filter((o) => o.fraud).length / terminal.length : 0;
    });
  });
  return out;
}

function assertClose(actual: Float64Array, expected: Float64Array, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i += 1) {
    if (Math.abs(actual[i] - expected[i]) > 1e-9) {
      const row = Math.floor(i / FEATURE_COUNT);
      assert.fail(`${what}: row ${row} ${FEATURE_NAMES[i % FEATURE_COUNT]} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

describe('features', () => {
  const txs = syntheticTransactions(4000, 7);

  it('names 15 handbook features', () => {
    assert.equal(FEATURE_COUNT, 15);
    assert.ok(FEATURE_NAMES.includes('TERMINAL_ID_RISK_30DAY_WINDOW'));
  });

  it('batch features equal the handbook definitions computed directly', () => {
    assertClose(computeFeatures(txs), bruteForce(txs), 'batch vs brute force');
  });

  it('batch equals the streaming state bit for bit (each label given at once), with tied times and any delay', () => {
    const tied = txs.map((tx) => ({ ...tx, timestamp: tx.timestamp - (tx.timestamp % 3600) }));
    for (const delayDays of [0, 1, 7]) {
      const state = new FeatureState(delayDays);
      const streamed = new Float64Array(tied.length * FEATURE_COUNT);
      tied.forEach((tx, i) => {
        state.observe(tx, streamed, i * FEATURE_COUNT);
        state.label(tx.transactionId, tx.fraud);
      });
      assert.deepEqual(computeFeatures(tied, delayDays), streamed, `delay ${delayDays} days`);
    }
  });

  it('batch over columns takes the rows in the given order, and -1 (no label yet) as genuine', () => {
    const reversed = txs.map((_, i) => txs.length - 1 - i);
    const columns = {
      transactionId: reversed.map((i) => txs[i].transactionId),
      timestamp: reversed.map((i) => txs[i].timestamp),
      customerId: reversed.map((i) => txs[i].customerId),
      terminalId: reversed.map((i) => txs[i].terminalId),
      amount: reversed.map((i) => txs[i].amount),
      fraud: reversed.map((i) => (txs[i].fraud === 1 ? 1 : -1)),
    };
    assert.deepEqual(computeColumnFeatures(columns, txs.length, 7, reversed), computeFeatures(txs));
  });

  it('calendar features are what a Date gives, at day and hour edges, before 1970 and beyond the dates a Date holds', () => {
    const edges = [0, -1, -0.0001, 6 * 3600 - 0.001, 7 * 3600 - 0.0001, 7 * 3600, 86_400 - 1e-7, 1_525_132_800, -86_400 * 3 - 0.5];
    const random = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 4001) * 1e6 - 2e9 + (i % 7) / 3);
    const beyond = [8.64e12, 8.64e12 + 0.001, -8.64e12 - 0.001, 1e300];
    for (const t of [...edges, ...random, ...beyond]) {
      const out = new Float64Array(3);
      calendarFeatures(t, out, 0);
      const date = new Date(t * 1000);
      const expected = [date.getUTCDay() === 0 || date.getUTCDay() === 6 ? 1 : 0, date.getUTCHours() <= 6 ? 1 : 0];
      assert.deepEqual([out[1], out[2]], expected, `t = ${t}`);
    }
  });

  it('streaming with labels arriving up to 7 days late equals batch', () => {
    const state = new FeatureState();
    const streamed = new Float64Array(txs.length * FEATURE_COUNT);
    // Label events land at a random time less than 7 days after their transaction.
    const labels = txs.map((tx, i) => ({ at: tx.timestamp + ((i * 7919) % (7 * DAY_SECONDS - 1)), tx })).sort((a, b) => a.at - b.at);
    let next = 0;
    txs.forEach((tx, i) => {
      while (next < labels.length && labels[next].at <= tx.timestamp) {
        state.label(labels[next].tx.transactionId, labels[next].tx.fraud);
        next += 1;
      }
      state.observe(tx, streamed, i * FEATURE_COUNT);
    });
    assertClose(streamed, computeFeatures(txs), 'streaming vs batch');
  });

  it("on a simulated month, streaming the producer's messages (labels 7 days late) equals batch", () => {
    const dataset = simulate({ customers: 400, terminals: 800, days: 30, seed: 5 });
    const contract = new RecordContract(HANDBOOK_DECLARATION);
    const rows = Array.from(dataset.records());
    const input = (message: unknown) => {
      const { value, problems } = contract.readTransaction(message, { admitted: true });
      assert.ok(value, JSON.stringify(problems));
      return featureInputOf(value);
    };
    const batch = computeFeatures(rows.map((tx) => ({ ...featureInputOf(tx), fraud: tx.label ?? 0 })));

    const state = new FeatureState();
    const streamed = new Float64Array(rows.length * FEATURE_COUNT);
    let observed = 0;
    let labelled = 0;
    for (const message of publicationOrder(rows, contract, 7)) {
      const value = JSON.parse(message.value);
      if (message.stream === 'transactions') {
        assert.equal(value.TX_FRAUD, undefined, 'the transaction message carries no label');
        state.observe(input(value), streamed, observed * FEATURE_COUNT);
        observed += 1;
      } else {
        const label = contract.readLabel(value, { admitted: true }).value;
        assert.ok(label);
        if (state.label(label.id, label.label)) labelled += 1;
      }
    }
    assert.equal(observed, rows.length);
    assert.ok(labelled > rows.length / 2, 'most labels reach the stream state');
    assert.ok(
      batch.some((v, i) => i % FEATURE_COUNT === 10 && v > 0),
      'some terminal risk is non-zero: labels are used',
    );
    assertClose(streamed, batch, 'streamed messages vs batch');
  });

  it('never lets a label influence features within the 7-day delay', () => {
    const probe = txs.length - 1;
    const t = txs[probe].timestamp;
    const baseline = computeFeatures(txs).subarray(probe * FEATURE_COUNT);
    const flip = (from: number, to: number) =>
      txs.map((tx) => (tx.timestamp > from && tx.timestamp <= to ? { ...tx, fraud: (1 - tx.fraud) as 0 | 1 } : tx));
    // Every label of the last 7 days flipped: the probe's features must not move.
    const recent = computeFeatures(flip(t - 7 * DAY_SECONDS, t)).subarray(probe * FEATURE_COUNT);
    assert.deepEqual(Array.from(recent), Array.from(baseline));
    // Flipping the day before the delay edge does move its terminal risk: the check can fail.
    const older = computeFeatures(flip(t - 8 * DAY_SECONDS, t - 7 * DAY_SECONDS)).subarray(probe * FEATURE_COUNT);
    assert.notDeepEqual(Array.from(older), Array.from(baseline));
  });

  it('rejects out-of-order and malformed transactions, naming the field', () => {
    const state = new FeatureState();
    state.observe(txs[10]);
    assert.throws(() => state.observe(txs[0]), /time order/);
    assert.throws(() => state.observe({ ...txs[20], amount: -1 }), /amount must be >= 0/);
    assert.throws(() => state.observe({ ...txs[20], customerId: '' }), /customerId must be a non-empty string/);
  });

  it('keeps memory bounded by compacting old entries without changing results', () => {
    // One busy customer and terminal over 90 days: compaction must kick in and stay exact.
    const busy: Tx[] = Array.from({ length: 9000 }, (_, i) => ({
      transactionId: String(i),
      timestamp: 1_500_000_000 + i * 864,
      customerId: '1',
      terminalId: '1',
      amount: (i % 97) + 1,
      fraud: i % 13 === 0 ? 1 : 0,
    }));
    const features = computeFeatures(busy);
    const last = features.subarray((busy.length - 1) * FEATURE_COUNT);
    assert.equal(last[3 + 2 * 2], 3000, '30 days of one transaction every 864 s');
    assert.equal(last[9 + 2 * 2], 3000, 'the shifted 30-day terminal window');
    assertClose(features.subarray(-FEATURE_COUNT * 5), bruteForce(busy.slice(-4000)).subarray(-FEATURE_COUNT * 5), 'tail vs brute force');
  });
});
