// The privacy ledger's store on the real S3: a process that read the ledger before fetches again only what was
// rewritten (its ETag changed) or added since, sees exactly that, and a malformed object fails the read with its key.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ledgerEntryKey, readLedger, writeLedgerEntry } from '../../clients/privacy-ledger-store';
import { createS3, listKeys, putObjectBuffer } from '../../clients/s3';
import { loadConfig } from '../../config';
import type { LedgerEntry } from '../../ml/privacy/ledger';

const config = loadConfig();
const s3 = createS3(config);
/** The same client, counting the objects it GETs. */
const fetched: string[] = [];
const counting = new Proxy(s3, {
  get(target, property, receiver) {
    if (property !== 'getObject') return Reflect.get(target, property, receiver);
    return (bucket: string, key: string) => {
      fetched.push(key);
      return target.getObject(bucket, key);
    };
  },
});
const readCounting = async () => {
  fetched.length = 0;
  return readLedger(counting, bucket, prefix);
};
const bucket = config.stack.s3.bucket;
const prefix = `test/ledger-store/${randomUUID()}/`;

const entry = (runId: string, outcome: LedgerEntry['outcome']): LedgerEntry => ({
  runId,
  workflowId: `training-${runId}`,
  unit: 'transaction',
  days: { first: '2018-04-01', last: '2018-04-07' },
  recordedAt: '2018-04-08T00:00:00.000Z',
  outcome,
  delta: 1e-6,
  mechanism: { kind: 'poisson-gaussian', samplingRate: 0.01, noiseMultiplier: 1.1, steps: 700 },
});

describe('privacy ledger store (real S3)', () => {
  after(async () => {
    for (const key of await listKeys(s3, bucket, prefix)) await s3.removeObject(bucket, key);
  });

  it('reads rewritten and new entries after an earlier read, and names a malformed one', async () => {
    const first = ledgerEntryKey(prefix, 'training-a', 'a');
    await writeLedgerEntry(s3, bucket, first, entry('a', 'training'));
    assert.deepEqual(
      (await readCounting()).map((item) => [item.key, item.entry.outcome]),
      [[first, 'training']],
    );
    await readCounting();
    assert.deepEqual(fetched, [], 'an unchanged entry is not fetched again');

    await writeLedgerEntry(s3, bucket, first, { ...entry('a', 'promoted'), modelVersion: '3' });
    const second = ledgerEntryKey(prefix, 'training-b', 'b');
    await writeLedgerEntry(s3, bucket, second, entry('b', 'training'));
    const read = await readCounting();
    assert.deepEqual(fetched.sort(), [first, second].sort(), 'the rewritten entry and the new one are fetched');
    assert.deepEqual(
      read.map((item) => [item.key, item.entry.outcome, item.entry.modelVersion]),
      [
        [first, 'promoted', '3'],
        [second, 'training', undefined],
      ],
    );
    // What a caller does with the entries it got never reaches the next read.
    read[0].entry.outcome = 'failed';
    assert.equal((await readLedger(s3, bucket, prefix))[0].entry.outcome, 'promoted');

    await putObjectBuffer(s3, bucket, second, JSON.stringify({ ...entry('b', 'training'), delta: 2 }));
    await assert.rejects(
      readLedger(s3, bucket, prefix),
      (err: Error) => err.message.includes(second) && /delta must be in \(0, 1\)/.test(err.message),
    );
  });
});
