// The lifetime privacy ledger in S3: one JSON object per training attempt under privacy-ledger/, so appending
// never rewrites another run's entry and a retry rewrites only its own.
import type { Config } from '../config';
import { checkEntry, type LedgerEntry } from '../ml/privacy/ledger';
import { getObjectBuffer, listKeys, putObjectBuffer, type S3 } from './s3';

/**
 * The ledger of one data source, privacy-ledger/<transactions topic>/: every model trained on the same transactions
 * spends the same people's privacy, and an isolated environment (its own topics) has its own ledger.
 */
export const ledgerPrefix = (config: Config) => `privacy-ledger/${config.topics.transactions}/`;

/** The key of an attempt's entry: the workflow id (readable) and the Temporal run id (one per attempt). */
export const ledgerEntryKey = (prefix: string, workflowId: string, runId: string) => `${prefix}${workflowId}/${runId}.json`;

/** Every entry under `prefix`; a malformed object fails with its key (the ledger is never read partially). */
export async function readLedger(s3: S3, bucket: string, prefix: string): Promise<Array<{ key: string; entry: LedgerEntry }>> {
  const keys = (await listKeys(s3, bucket, prefix)).filter((key) => key.endsWith('.json'));
  return Promise.all(
    keys.map(async (key) => {
      const entry = JSON.parse((await getObjectBuffer(s3, bucket, key)).toString('utf8')) as LedgerEntry;
      try {
        checkEntry(entry);
      } catch (err) {
        (err as Error).message = `s3://${bucket}/${key}: ${(err as Error).message}`;
        throw err;
      }
      return { key, entry };
    }),
  );
}

export async function writeLedgerEntry(s3: S3, bucket: string, key: string, entry: LedgerEntry): Promise<void> {
  checkEntry(entry);
  await putObjectBuffer(s3, bucket, key, `${JSON.stringify(entry, null, 2)}\n`, 'application/json');
}
