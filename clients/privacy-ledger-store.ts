// The lifetime privacy ledger in S3: one JSON object per training attempt under privacy-ledger/, so appending
// never rewrites another run's entry and a retry rewrites only its own.
import { createHash } from 'node:crypto';
import type { Config } from '../config';
import { mapLimit } from '../dataset/window';
import { checkEntry, type LedgerEntry } from '../ml/privacy/ledger';
import { getObjectBuffer, listObjects, putObjectBuffer, type S3 } from './s3';

/** Entries fetched in parallel when a process reads the ledger first (a year of daily runs is hundreds). */
const LEDGER_READS_AT_ONCE = 16;

/**
 * The ledger of one data source, privacy-ledger/<transactions topic>/: every model trained on the same transactions
 * spends the same people's privacy, and an isolated environment (its own topics) has its own ledger.
 */
export const ledgerPrefix = (config: Config) => `privacy-ledger/${config.topics.transactions}/`;

/** The key of an attempt's entry: the workflow id (readable) and the Temporal run id (one per attempt). */
export const ledgerEntryKey = (prefix: string, workflowId: string, runId: string) => `${prefix}${workflowId}/${runId}.json`;

/**
 * Entries already read, by bucket/key with their ETag. The ledger gains an entry a day for as long as the deployment
 * runs and every run reads it whole: with this a run lists the ledger and fetches only the entries new or rewritten
 * since this process last read it. An entry is kept only when the bytes read are the ones the listing's ETag names
 * (an entry is one small PUT, whose ETag is the MD5 of its bytes), so a stale read is never kept.
 */
const readEntries = new Map<string, { etag: string; entry: LedgerEntry }>();

/** Every entry under `prefix`; a malformed object fails with its key (the ledger is never read partially). */
export async function readLedger(s3: S3, bucket: string, prefix: string): Promise<Array<{ key: string; entry: LedgerEntry }>> {
  const objects = (await listObjects(s3, bucket, prefix)).filter((object) => object.key.endsWith('.json'));
  return mapLimit(objects, LEDGER_READS_AT_ONCE, async ({ key, etag }) => {
    const cached = readEntries.get(`${bucket}/${key}`);
    if (etag && cached?.etag === etag) return { key, entry: structuredClone(cached.entry) };
    const bytes = await getObjectBuffer(s3, bucket, key);
    const entry = JSON.parse(bytes.toString('utf8')) as LedgerEntry;
    try {
      checkEntry(entry);
    } catch (err) {
      (err as Error).message = `s3://${bucket}/${key}: ${(err as Error).message}`;
      throw err;
    }
    if (etag && createHash('md5').update(bytes).digest('hex') === etag) {
      readEntries.set(`${bucket}/${key}`, { etag, entry: structuredClone(entry) });
    }
    return { key, entry };
  });
}

export async function writeLedgerEntry(s3: S3, bucket: string, key: string, entry: LedgerEntry): Promise<void> {
  checkEntry(entry);
  await putObjectBuffer(s3, bucket, key, `${JSON.stringify(entry, null, 2)}\n`, 'application/json');
}
