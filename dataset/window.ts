// A run's dataset from the lake: a content-addressed manifest of the partition files of a window of event days, and
// the reader that turns those files into the snapshot's columns (transactions of the window's days, sorted by time
// then id, labels joined by transaction id, the last label winning). The reader is hyparquet, picked by measurement
// against DuckDB (bench/lake.ts; docs/ARCHITECTURE.md "The lake").
import { InvalidInputError } from '../ml/errors';
import type { RecordDeclaration } from '../records';
import { numericId } from '../records/ids';
import { type LakeFile, WINDOW_FORMAT, type WindowPlan } from './lake';
import {
  canonicalJson,
  concatColumns,
  decodeColumns,
  decodeLabels,
  extraColumnsOf,
  joinLabels,
  type LabelColumns,
  rowCounts,
  type SnapshotColumns,
  sha256Hex,
  sortColumns,
} from './snapshot';

export interface WindowCounts {
  rows: number;
  labelled: number;
  /** labelled / rows (0 for an empty window). */
  labelCoverage: number;
  frauds: number;
  timeRange: { first: string | null; last: string | null };
  /** Rows whose transaction id an earlier file of the window holds, in log order (dropped: the first one is kept). */
  duplicates: number;
  /** Labels that repeat an earlier label of the same transaction (the last one wins). */
  labelUpdates: number;
  /** Transactions with a label from the window's label dates but outside the window (mostly the days just before it). */
  unmatchedLabels: number;
}

/** What a window is: which files of which lake, read by which declaration. Its hash is the dataset's id. */
export interface WindowContent extends Omit<WindowPlan, 'files'> {
  format: typeof WINDOW_FORMAT;
  /** The lake's S3 prefix (in the bucket of the manifest). */
  lake: string;
  declaration: RecordDeclaration;
  files: LakeFile[];
}

/** The content, what reading it counted (a function of the files, so not hashed), its id and when it was written. */
export interface WindowManifest extends WindowContent, WindowCounts {
  /** sha256 of the canonical JSON of the content: the dataset's id. */
  sha256: string;
  createdAt: string;
}

export const windowHash = (content: WindowContent) => sha256Hex(canonicalJson(content));

/** Checks a file's bytes against the log's record of it. */
export function verifyLakeFile(file: LakeFile, data: Uint8Array, lake: string): Uint8Array {
  const hash = sha256Hex(data);
  if (hash !== file.sha256 || data.byteLength !== file.bytes) {
    throw new InvalidInputError(
      `lake ${lake}: ${file.path} has sha256 ${hash} (${data.byteLength} bytes), the log says ${file.sha256} (${file.bytes} bytes)`,
    );
  }
  return data;
}

/** Runs `task` over the items with at most `limit` at once, results in item order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * False when no transaction id repeats across the parts, found without a set of strings when every id is a canonical
 * whole number (the handbook's): their values sorted, no two neighbours equal. True when they may repeat.
 */
function mayRepeat(parts: readonly Pick<SnapshotColumns, 'rows' | 'transactionId'>[]): boolean {
  const values = new Float64Array(parts.reduce((n, p) => n + p.rows, 0));
  let at = 0;
  for (const p of parts) {
    for (let i = 0; i < p.rows; i++) {
      const value = numericId(p.transactionId[i]);
      if (Number.isNaN(value)) return true;
      values[at++] = value;
    }
  }
  values.sort();
  for (let i = 1; i < values.length; i++) if (values[i] === values[i - 1]) return true;
  return false;
}

/**
 * The window's rows from its files: `fetch` gives a file's verified bytes. Transactions come day by day (a day
 * written by several batches is merged and sorted), a transaction id a later batch repeats is dropped, and the
 * labels are joined in log order.
 */
export async function readWindow(
  files: readonly LakeFile[],
  declaration: RecordDeclaration,
  fetch: (file: LakeFile) => Promise<Uint8Array>,
): Promise<{ columns: SnapshotColumns; counts: WindowCounts }> {
  const txFiles = files.filter((f) => f.kind === 'transactions');
  const labelFiles = files.filter((f) => f.kind === 'labels');
  const parts = await mapLimit(txFiles, 8, async (f) => decodeColumns(await fetch(f), declaration, { labels: false }));
  const labels: LabelColumns[] = await mapLimit(labelFiles, 8, async (f) => decodeLabels(await fetch(f), declaration));

  // The first of a repeated id wins, in log order (txFiles are in log order).
  let duplicates = 0;
  const keep = parts.map((p) => new Uint8Array(p.rows).fill(1));
  if (mayRepeat(parts)) {
    const seen = new Set<string>();
    parts.forEach((p, k) => {
      for (let i = 0; i < p.rows; i++) {
        const id = p.transactionId[i];
        if (!seen.has(id)) seen.add(id);
        else {
          duplicates += 1;
          keep[k][i] = 0;
        }
      }
    });
  }
  const extras = extraColumnsOf(declaration);
  const byDay = new Map<string, number[]>();
  txFiles.forEach((f, k) => {
    byDay.set(f.date, [...(byDay.get(f.date) ?? []), k]);
  });
  const days = [...byDay.keys()].sort().map((date) => {
    const ks = byDay.get(date) ?? [];
    const day = concatColumns(
      ks.map((k) => parts[k]),
      extras,
      (j, row) => keep[ks[j]][row] === 1,
    );
    return ks.length > 1 ? sortColumns(day) : day;
  });
  const columns = days.length === 1 ? days[0] : concatColumns(days, extras);
  const joined = joinLabels(columns, labels);
  return {
    columns,
    counts: {
      ...rowCounts(columns, joined),
      duplicates,
      labelUpdates: joined.labelUpdates,
      unmatchedLabels: joined.unmatched,
    },
  };
}

export function windowContent(lake: string, declaration: RecordDeclaration, plan: WindowPlan): WindowContent {
  return { format: WINDOW_FORMAT, lake, declaration, ...plan };
}

/** Checks a manifest against its id. */
export function verifyWindow(manifest: WindowManifest): WindowManifest {
  const content: WindowContent = {
    format: manifest.format,
    lake: manifest.lake,
    declaration: manifest.declaration,
    window: manifest.window,
    through: manifest.through,
    files: manifest.files,
    rejected: manifest.rejected,
  };
  const actual = windowHash(content);
  if (actual !== manifest.sha256)
    throw new InvalidInputError(`dataset ${manifest.sha256}: the manifest hashes to ${actual}; it was altered`);
  return manifest;
}
