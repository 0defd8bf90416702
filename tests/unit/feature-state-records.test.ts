// The serialised customer and terminal states (what the online store keeps in Redis) carry the window math exactly:
// features computed through an encode/decode round trip after every transaction equal the batch features.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CustomerState,
  computeFeatures,
  DAY_SECONDS,
  FEATURE_COUNT,
  type FeatureInput,
  observeTransaction,
  TerminalState,
  terminalRecordLayout,
} from '../../ml/features';
import { featureInputOf } from '../../serving/online-features';
import { simulate } from '../../simulator';

const DELAY_DAYS = 2;

function transactions(): Array<FeatureInput & { fraud: 0 | 1 }> {
  const dataset = simulate({ customers: 40, terminals: 30, days: 45, radius: 50, seed: 4 });
  return Array.from({ length: dataset.size }, (_, i) => {
    const record = dataset.record(i);
    return { ...featureInputOf(record), fraud: record.label ?? 0 };
  });
}

describe('feature state records', () => {
  const txs = transactions();
  const batch = computeFeatures(txs, DELAY_DAYS);

  it('features through an encode/decode round trip of every state after every transaction equal batch features', () => {
    const customers = new Map<string, Float64Array>();
    const terminals = new Map<string, { record: Float64Array; ids: string[] | null }>();
    const located = new Map<string, { terminalId: string; index: number }>();
    const out = new Float64Array(txs.length * FEATURE_COUNT);
    let dropped = 0;
    txs.forEach((tx, i) => {
      const customerRecord = customers.get(tx.customerId);
      const terminalRecord = terminals.get(tx.terminalId);
      const customer = customerRecord ? CustomerState.decode(customerRecord) : new CustomerState();
      const terminal = terminalRecord
        ? TerminalState.decode(terminalRecord.record, terminalRecord.ids, DELAY_DAYS * DAY_SECONDS)
        : new TerminalState(DELAY_DAYS * DAY_SECONDS);
      const { index } = observeTransaction(tx, customer, terminal, out, i * FEATURE_COUNT);
      // As in batch, the label is known right after the transaction.
      terminal.setLabel(index, tx.fraud);
      located.set(tx.transactionId, { terminalId: tx.terminalId, index });
      const encoded = terminal.encode();
      dropped += encoded.dropped.length;
      customers.set(tx.customerId, customer.encode());
      terminals.set(tx.terminalId, { record: encoded.record, ids: encoded.ids });
    });
    for (let i = 0; i < out.length; i++)
      assert.equal(out[i], batch[i], `row ${Math.floor(i / FEATURE_COUNT)} feature ${i % FEATURE_COUNT}`);
    assert.ok(dropped > 0, 'old terminal entries leave the records');
    assert.ok(located.size === txs.length);
  });

  it('keeps only what a window still needs, and refuses a record of the other kind', () => {
    const customer = new CustomerState();
    const out = new Float64Array(FEATURE_COUNT);
    const terminal = new TerminalState(DELAY_DAYS * DAY_SECONDS);
    const start = 1_600_000_000;
    for (let day = 0; day < 100; day++) {
      const tx = {
        transactionId: `t${day}`,
        timestamp: start + day * DAY_SECONDS,
        customerId: 'card-1',
        terminalId: 'shop, "one"',
        amount: 10,
      };
      observeTransaction(tx, customer, terminal, out, 0);
    }
    const header = 4 + 2 * 3;
    // The 30-day window holds 30 daily transactions: (t − 30 days, t].
    assert.equal((customer.encode().length - header) / 2, 30);
    const { record, ids } = terminal.encode();
    assert.ok(ids, 'ids that are not whole numbers travel as text');
    assert.equal(ids.length, (record.length - (4 + 3 * 3)) / 3, 'one id per entry kept');
    assert.deepEqual(TerminalState.decode(record, ids, DELAY_DAYS * DAY_SECONDS).encode().ids, ids, 'the string ids survive a round trip');
    assert.equal(CustomerState.decode(customer.encode()).lastTime, start + 99 * DAY_SECONDS);
    assert.throws(() => CustomerState.decode(record), /not a customer state record/);
    assert.throws(() => TerminalState.decode(customer.encode(), [], DAY_SECONDS), /not a terminal state record/);
  });

  it('stores canonical whole-number ids as a float column, and text again once another id joins', () => {
    const customer = new CustomerState();
    const out = new Float64Array(FEATURE_COUNT);
    const terminal = new TerminalState(DELAY_DAYS * DAY_SECONDS);
    const start = 1_600_000_000;
    const observe = (transactionId: string, day: number) =>
      observeTransaction(
        { transactionId, timestamp: start + day * DAY_SECONDS, customerId: '1', terminalId: '2', amount: 10 },
        customer,
        terminal,
        out,
        0,
      );
    for (let day = 0; day < 5; day++) observe(String(9_007_199_254_740 + day), day);
    const numeric = terminal.encode();
    assert.equal(numeric.ids, null);
    assert.deepEqual(terminalRecordLayout(numeric.record), { floats: numeric.record.length, textIds: false });
    const restored = TerminalState.decode(numeric.record, null, DELAY_DAYS * DAY_SECONDS);
    assert.deepEqual(restored.encode(), numeric, 'a round trip keeps the record');
    observe('007', 5); // not canonical: a leading zero
    const text = terminal.encode();
    assert.ok(text.ids, 'one id that is not a canonical whole number makes them all text');
    assert.deepEqual(text.ids.slice(-2), ['9007199254744', '007']);
    assert.deepEqual(terminalRecordLayout(text.record), { floats: text.record.length, textIds: true });
  });
});
