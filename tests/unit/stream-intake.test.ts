// The scorer's intake: what it releases, and when (see stream/intake.ts for the rule).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MergeKey, type StagedItem, StreamIntake } from '../../stream/intake';

const topics = { transactions: 'tx', labels: 'labels' };
const starts = new Map([
  ['tx:0', 0],
  ['tx:1', 0],
  ['labels:0', 0],
]);

/** Transactions with merge keys (time, id), from offset `from`. */
const txs = (from: number, ...keys: [number, string | number][]): StagedItem<string>[] =>
  keys.map(([time, id], i) => ({ offset: from + i, key: { time, id: String(id) }, value: `tx${id}` }));
const labels = (from: number, ...ids: number[]): StagedItem<string>[] => ids.map((id, i) => ({ offset: from + i, value: `label${id}` }));
const marks = (tx0: number, tx1: number, labels0: number) =>
  new Map([
    ['tx:0', tx0],
    ['tx:1', tx1],
    ['labels:0', labels0],
  ]);

describe('stream intake', () => {
  it('releases nothing before a target is reached, then transactions up to it merged by (time, id)', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1], [30, 3], [50, 5]));
    assert.equal(intake.hasWork(), false, 'partition 1 may still hold earlier transactions');
    assert.equal(intake.wantsTarget(), true);
    const key: MergeKey = intake.targetKey();
    intake.setTarget(key, marks(3, 2, 0));
    assert.equal(intake.hasWork(), false, 'partition 1 is not staged up to its mark yet');
    intake.stageTransactions(1, txs(0, [20, 2], [50, 4]));
    const work = intake.take(100);
    assert.deepEqual(
      work.transactions.map((e) => e.value),
      ['tx1', 'tx2', 'tx3', 'tx4', 'tx5'],
    );
    assert.deepEqual(
      [...work.positions],
      [
        ['tx:0', 3],
        ['tx:1', 2],
      ],
    );
  });

  it('holds back what was staged after the target question, and respects the batch size', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1]));
    intake.stageTransactions(1, txs(0, [20, 2]));
    const key = intake.targetKey();
    intake.stageTransactions(0, txs(1, [30, 3]));
    intake.setTarget(key, marks(1, 1, 0));
    assert.deepEqual(
      intake.take(1).transactions.map((e) => e.value),
      ['tx1'],
    );
    assert.deepEqual(
      intake.take(10).transactions.map((e) => e.value),
      ['tx2'],
    );
    assert.equal(intake.hasWork(), false);
    assert.equal(intake.wantsTarget(), true, 'tx3 waits for the next target');
  });

  it('waits for the labels published before the transactions, and hands them out first', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1]));
    intake.stageTransactions(1, txs(0, [20, 2]));
    intake.setTarget(intake.targetKey(), marks(1, 1, 2));
    assert.equal(intake.hasWork(), false, 'two labels are not staged yet');
    intake.stageLabels(0, labels(0, 7, 8));
    const work = intake.take(10);
    assert.deepEqual(
      work.labels.map((e) => e.value),
      ['label7', 'label8'],
    );
    assert.deepEqual(
      work.transactions.map((e) => e.value),
      ['tx1', 'tx2'],
    );
    assert.equal(work.positions.get('labels:0'), 2);
  });

  it('gives no transaction while more labels wait than one batch takes', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1]));
    intake.stageLabels(0, labels(0, 1, 2, 3));
    intake.setTarget(intake.targetKey(), marks(1, 0, 3));
    const first = intake.take(2);
    assert.deepEqual([first.labels.length, first.transactions.length], [2, 0]);
    const second = intake.take(2);
    assert.deepEqual([second.labels.length, second.transactions.length], [1, 1]);
  });

  it('skips redelivered offsets, keeps a keyless (malformed) message after its predecessor, and counts skipped markers', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1], [30, 3]));
    intake.stageTransactions(0, [...txs(1, [30, 3]), { offset: 2, value: 'malformed' }]);
    intake.stageTransactions(1, txs(0, [20, 2]));
    intake.skipTo('tx', 1, 5);
    intake.setTarget(intake.targetKey(), marks(3, 5, 0));
    const work = intake.take(10);
    assert.deepEqual(
      work.transactions.map((e) => e.value),
      ['tx1', 'tx2', 'tx3', 'malformed'],
    );
    assert.equal(intake.positions().get('tx:1'), 5);
  });

  it('breaks time ties by id as a snapshot does: numeric ids by value, other strings by code unit', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 9], [10, 'b']));
    intake.stageTransactions(1, txs(0, [10, 10], [10, 'a']));
    intake.setTarget(intake.targetKey(), marks(2, 2, 0));
    assert.deepEqual(
      intake.take(10).transactions.map((e) => e.value),
      ['tx9', 'tx10', 'txa', 'txb'],
    );
  });

  it('keeps a partition in offset order when its keys go back in time, and still asks for the next target', () => {
    const intake = new StreamIntake<string, string>(topics, starts);
    intake.stageTransactions(0, txs(0, [10, 1]));
    intake.stageTransactions(1, txs(0, [15, 2]));
    intake.setTarget(intake.targetKey(), marks(1, 1, 0));
    assert.deepEqual(
      intake.take(10).transactions.map((e) => e.value),
      ['tx1', 'tx2'],
    );
    // Partition 0 now holds a later transaction, then one published late: the last staged key is below the bound.
    intake.stageTransactions(0, txs(1, [40, 4], [12, 3]));
    assert.equal(intake.hasWork(), false);
    assert.equal(intake.wantsTarget(), true, 'tx4 waits beyond the bound, though the last key staged is below it');
    intake.setTarget(intake.targetKey(), marks(3, 1, 0));
    assert.deepEqual(
      intake.take(10).transactions.map((e) => e.value),
      ['tx4', 'tx3'],
      'the late one stays behind its predecessor: the store decides whether it is still scored',
    );
  });
});
