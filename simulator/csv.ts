// The CSV file of a simulated dataset: handbook header, one row per transaction in time order, amounts with 2 decimals.
// Rows are encoded straight into byte buffers (no string per row): 1.75 M rows take well under a second.
import { open, rename, rm } from 'node:fs/promises';
import { addDays, SECONDS_PER_DAY } from '../records';
import type { ProgressListener, SimulatedDataset } from './dataset';
import { TRANSACTION_COLUMNS } from './record';

export const CSV_HEADER = `${TRANSACTION_COLUMNS.join(',')}\n`;

const ROWS_PER_CHUNK = 65536;
/** Upper bound of one encoded row: nine fields of at most 19 characters (datetime) or 17 (a number), separators. */
const MAX_ROW_BYTES = 160;

const COMMA = 0x2c;
const NEWLINE = 0x0a;
const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;

const digits = new Uint8Array(24);
/** Writes the decimal digits of a whole number ≥ 0 at `pos`; returns the next position. */
function putWhole(buffer: Uint8Array, pos: number, value: number): number {
  let n = value;
  let length = 0;
  do {
    const next = Math.floor(n / 10);
    digits[length++] = ZERO + (n - next * 10);
    n = next;
  } while (n > 0);
  while (length > 0) buffer[pos++] = digits[--length];
  return pos;
}

function putTwoDigits(buffer: Uint8Array, pos: number, value: number): number {
  buffer[pos] = ZERO + Math.floor(value / 10);
  buffer[pos + 1] = ZERO + (value % 10);
  return pos + 2;
}

/** Encodes rows [from, to) into `buffer` (room for MAX_ROW_BYTES per row); returns the number of bytes. */
function encodeRows(dataset: SimulatedDataset, from: number, to: number, buffer: Uint8Array, dates: Uint8Array[]): number {
  const { timeSeconds, customerId, terminalId, amountCents, fraud, scenario } = dataset.columns;
  let pos = 0;
  for (let row = from; row < to; row++) {
    const time = timeSeconds[row];
    const day = Math.floor(time / SECONDS_PER_DAY);
    const second = time - day * SECONDS_PER_DAY;
    pos = putWhole(buffer, pos, row);
    buffer[pos++] = COMMA;
    dates[day] ??= Buffer.from(`${addDays(dataset.config.startDate, day)} `, 'latin1');
    buffer.set(dates[day], pos);
    pos += dates[day].length;
    pos = putTwoDigits(buffer, pos, Math.floor(second / 3600));
    buffer[pos++] = COLON;
    pos = putTwoDigits(buffer, pos, Math.floor(second / 60) % 60);
    buffer[pos++] = COLON;
    pos = putTwoDigits(buffer, pos, second % 60);
    buffer[pos++] = COMMA;
    pos = putWhole(buffer, pos, customerId[row]);
    buffer[pos++] = COMMA;
    pos = putWhole(buffer, pos, terminalId[row]);
    buffer[pos++] = COMMA;
    const cents = amountCents[row];
    const remainder = cents % 100;
    pos = putWhole(buffer, pos, (cents - remainder) / 100);
    buffer[pos++] = DOT;
    pos = putTwoDigits(buffer, pos, remainder);
    buffer[pos++] = COMMA;
    pos = putWhole(buffer, pos, time);
    buffer[pos++] = COMMA;
    pos = putWhole(buffer, pos, day);
    buffer[pos++] = COMMA;
    buffer[pos++] = ZERO + fraud[row];
    buffer[pos++] = COMMA;
    buffer[pos++] = ZERO + scenario[row];
    buffer[pos++] = NEWLINE;
  }
  return pos;
}

/** CSV lines (each ending in a newline) of rows [from, to), as one string: for slices and tests; files go through writeCsv. */
export function csvLines(dataset: SimulatedDataset, from = 0, to = dataset.size): string {
  const buffer = Buffer.allocUnsafe(Math.max(0, to - from) * MAX_ROW_BYTES);
  return buffer.toString('latin1', 0, encodeRows(dataset, from, to, buffer, []));
}

/**
 * Writes the dataset to `path` in large chunks; the file appears under its name only once complete (written beside
 * it, then renamed). Returns the number of bytes.
 */
export async function writeCsv(dataset: SimulatedDataset, path: string, onProgress?: ProgressListener): Promise<number> {
  const partial = `${path}.partial-${process.pid}`;
  const dates: Uint8Array[] = [];
  const buffer = Buffer.allocUnsafe(ROWS_PER_CHUNK * MAX_ROW_BYTES);
  const file = await open(partial, 'w');
  try {
    let bytes = (await file.write(CSV_HEADER)).bytesWritten;
    for (let from = 0; from < dataset.size; from += ROWS_PER_CHUNK) {
      const to = Math.min(dataset.size, from + ROWS_PER_CHUNK);
      const length = encodeRows(dataset, from, to, buffer, dates);
      bytes += (await file.write(buffer, 0, length)).bytesWritten;
      onProgress?.({ phase: 'write', done: to, total: dataset.size });
    }
    await file.close();
    await rename(partial, path);
    return bytes;
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  }
}
