// The scorer's messages: input read by the record contract (pseudonyms unless fraudops' producer admitted the message),
// malformed messages kept only as the contract scrubs them, and the output records' exact JSON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from '../../clients/kafka';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../ml/features';
import { ADMITTED_HEADER, pseudonymizer, RecordContract } from '../../records';
import { featureObject, lateFields, PredictionJsonWriter, predictionRecord } from '../../serving/prediction';
import { deadLetter, parseLabel, parseTransaction, ReviewMembers, sendChunks } from '../../stream/messages';
import { cardsDeclaration } from '../cards-feed';

const contract = new RecordContract(
  cardsDeclaration({ columns: { category: 'categorical' }, drop: ['first', 'street'], pseudonymize: ['customer'] }),
  pseudonymizer('k'.repeat(32)),
);
const CARD = '4532015112830366123';
const card = pseudonymizer('k'.repeat(32))(CARD);
const transaction = {
  trans_num: '9f1c2a',
  unix_time: 1_538_313_255,
  cc_num: CARD,
  merchant: 'fraud_Kirlin, "and" Sons',
  amt: 12.5,
  category: 'grocery_pos',
  first: 'Jane',
  street: '1 Main St',
};

function message(value: unknown, offset = 7, headers: Record<string, Buffer> = {}): KafkaMessage {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return { key: null, value: Buffer.from(text), offset: String(offset), timestamp: '1700000000000', headers, attributes: 0 };
}

describe('stream messages', () => {
  it('reads a transaction by the declaration: merge key (time, id), the card pseudonymized unless the message was admitted', () => {
    const raw = parseTransaction(contract, message(transaction), 0);
    assert.deepEqual(raw.key, { time: 1_538_313_255, id: '9f1c2a' });
    assert.equal(raw.value.record?.customer, card);
    assert.equal(raw.value.record?.terminal, transaction.merchant);
    assert.equal(raw.value.emit, true);
    const admitted = parseTransaction(contract, message({ ...transaction, cc_num: card }, 7, { [ADMITTED_HEADER]: Buffer.from('1') }), 0);
    assert.equal(admitted.value.record?.customer, card, 'an admitted message carries the pseudonym already');
    assert.equal(parseTransaction(contract, message(transaction, 3), 5).value.emit, false, 'before emitFrom: state only');
    assert.equal(parseTransaction(contract, message(transaction), 0, 1_538_313_254).key, undefined, 'beyond maxFuture: no merge key');
  });

  it('keeps a malformed message only as the contract scrubs it: no dropped column, no raw card number', () => {
    const bad = parseTransaction(contract, message({ ...transaction, amt: 'a lot', is_fraud: 1 }), 0);
    assert.equal(bad.key, undefined);
    const rejected = bad.value.rejected;
    assert.ok(rejected);
    assert.equal(rejected.kind, 'malformed');
    assert.deepEqual(rejected.problems?.map((p) => p.field).sort(), ['amt', 'is_fraud']);
    assert.match(rejected.reason, /amt must be a number/);
    const kept = JSON.stringify(rejected.value);
    assert.ok(!kept.includes(CARD) && !kept.includes('Jane') && !kept.includes('Main St'), kept);
    assert.equal(rejected.value?.cc_num, card);

    const notJson = parseTransaction(contract, message(`{"cc_num": "${CARD}"`), 0).value.rejected;
    assert.deepEqual(notJson, { kind: 'malformed', reason: 'the message is not JSON', value: null });
  });

  it('reads labels by the declaration, and rejects a bad one', () => {
    assert.deepEqual(parseLabel(contract, message({ trans_num: '9f1c2a', is_fraud: true }), 0).value, {
      emit: true,
      label: { transactionId: '9f1c2a', fraud: 1 },
    });
    const bad = parseLabel(contract, message({ trans_num: '9f1c2a', is_fraud: 'maybe' }, 2), 3).value;
    assert.equal(bad.emit, false);
    assert.deepEqual(bad.rejected?.problems, [{ field: 'is_fraud', rule: 'must be 0 or 1 (or false / true)' }]);
  });

  it('writes a prediction as JSON.stringify of the one prediction record, the string id escaped', () => {
    const features = Float64Array.from({ length: 2 * FEATURE_COUNT }, (_, i) => i / 7);
    const writer = new PredictionJsonWriter('trans_num');
    for (const [id, lateSeconds] of [
      ['9f1c2a', undefined],
      ['a "quoted", \\ id', 42.5],
    ] as const) {
      const text = writer.write(id, 0.25, 'legit', '3', features, FEATURE_COUNT, lateSeconds);
      const expected = predictionRecord('trans_num', id, {
        score: 0.25,
        decision: 'legit',
        model_version: '3',
        features: featureObject(features, FEATURE_COUNT),
        ...lateFields(lateSeconds),
      });
      assert.equal(text, JSON.stringify(expected));
    }
    assert.deepEqual(Object.keys(featureObject(features, 0)), [...FEATURE_NAMES]);
  });

  it('writes a review case as JSON.stringify of its prediction record and review members, under the declared names', () => {
    const features = Float64Array.from({ length: FEATURE_COUNT }, (_, i) => i / 3);
    const writer = new PredictionJsonWriter('trans_num');
    const read = contract.readTransaction(transaction, { labels: 'absent' });
    assert.ok(read.value);
    const record = read.value;
    const review = { threshold: 0.5, distance: 0.0625, rank: 2, step: 'run-"7"' };
    const prediction = writer.write(record.id, 0.4375, 'legit', '3', features, 0, 12);
    const text = new ReviewMembers(contract.declaration).append(prediction, review, record);
    const expected = {
      ...predictionRecord('trans_num', record.id, {
        score: 0.4375,
        decision: 'legit',
        model_version: '3',
        features: featureObject(features, 0),
        ...lateFields(12),
      }),
      ...review,
      cc_num: record.customer,
      merchant: record.terminal,
      amt: record.amount,
      unix_time: record.timeValue,
    };
    assert.equal(text, JSON.stringify(expected));
    assert.deepEqual(JSON.parse(text), expected);
  });

  it('writes a dead letter with the reason in the headers and the value, keyed by the id when there is one', () => {
    const entry = { topic: 'tx', partition: 1, offset: 9 };
    const letter = deadLetter('dlq', entry, { kind: 'lateness', reason: 'too late', value: { trans_num: 'x' } }, 'x');
    assert.equal(letter.key, 'x');
    assert.deepEqual(letter.headers, { origin: 'score-stream', source: 'tx/1/9', kind: 'lateness', reason: 'too late' });
    assert.deepEqual(JSON.parse(letter.value), {
      origin: 'score-stream',
      source: 'tx/1/9',
      kind: 'lateness',
      reason: 'too late',
      value: { trans_num: 'x' },
    });
    assert.equal(deadLetter('dlq', entry, { kind: 'malformed', reason: 'bad', value: null }).key, 'tx/1/9');
    const sends = [...sendChunks([letter, { topic: 'out', key: 'k', value: '{}' }])];
    assert.deepEqual(
      sends[0].map((t) => [t.topic, t.messages.length, t.messages[0].headers?.kind]),
      [
        ['dlq', 1, 'lateness'],
        ['out', 1, undefined],
      ],
    );
  });
});
