// Minimal CSV (RFC 4180) for the CLI: a header row, comma separators, optional double quotes ("" inside
// quotes is a quote), CRLF or LF line ends. Only the commands read and write files; ml/ stays pure.
import { InvalidInputError } from '../ml/errors';

export interface CsvTable {
  header: string[];
  /** Data records, each with as many fields as the header. */
  records: string[][];
}

/** Parses CSV text; `source` names the file in error messages. Blank lines are skipped. */
export function parseCsv(text: string, source: string): CsvTable {
  const records: string[][] = [];
  const lines: number[] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  const endRecord = (): void => {
    record.push(field);
    if (record.length > 1 || record[0] !== '') {
      records.push(record);
      lines.push(recordLine);
    }
    field = '';
    record = [];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (quoted) throw new InvalidInputError(`${source} line ${recordLine}: a quoted field is not closed`);
  if (field !== '' || record.length) endRecord();
  const header = records.shift();
  lines.shift();
  if (!header) throw new InvalidInputError(`${source} is empty: a CSV header row is needed`);
  records.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new InvalidInputError(`${source} line ${lines[i]}: ${r.length} fields, but the header has ${header.length}`);
    }
  });
  return { header, records };
}

function quote(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** CSV text with a header; numbers are written in their shortest exact (round-trip) form. */
export function formatCsv(header: readonly string[], rows: Iterable<readonly (string | number)[]>): string {
  const out = [header.map(quote).join(',')];
  for (const row of rows) out.push(row.map((v) => (typeof v === 'number' ? String(v) : quote(v))).join(','));
  return `${out.join('\n')}\n`;
}
