// CSV files of transactions (RFC 4180: quoted fields with commas, quotes and line breaks; CRLF or LF), read by the
// declaration. A row that breaks the contract is reported with its line, column and rule.
import { InvalidInputError } from '../ml/errors';
import type { LabelRule, RecordContract, TxRecord } from './contract';
import { missingColumns } from './declaration';
import { describeProblems, type FieldProblem } from './errors';

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/** Rows of a CSV text, each with the line it starts on (1 = the header). Quoted fields may span lines. */
export function* csvRows(text: string, source: string): Generator<{ line: number; fields: string[] }> {
  let pos = 0;
  let line = 1;
  const n = text.length;
  // The next quote at or after `pos` (-1: none left), searched again only once passed: a file without quotes is scanned once.
  let quote = text.indexOf('"');
  while (pos < n) {
    const start = line;
    const next = text.indexOf('\n', pos);
    const end = next < 0 ? n : next;
    if (quote >= 0 && quote < pos) quote = text.indexOf('"', pos);
    if (quote < 0 || quote > end) {
      // The fast path: no quote on this line.
      let row = text.slice(pos, end);
      if (row.endsWith('\r')) row = row.slice(0, -1);
      pos = end + 1;
      line += 1;
      if (row !== '') yield { line: start, fields: row.split(',') };
      continue;
    }
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let done = false;
    while (!done) {
      if (pos >= n) {
        if (quoted) throw new InvalidInputError(`${source} line ${start}: a quoted field is not closed`);
        fields.push(field);
        break;
      }
      const c = text.charCodeAt(pos);
      if (quoted) {
        if (c === QUOTE) {
          if (text.charCodeAt(pos + 1) === QUOTE) {
            field += '"';
            pos += 2;
          } else {
            quoted = false;
            pos += 1;
          }
        } else {
          if (c === LF) line += 1;
          field += text[pos];
          pos += 1;
        }
        continue;
      }
      if (c === QUOTE && field === '') {
        quoted = true;
        pos += 1;
      } else if (c === COMMA) {
        fields.push(field);
        field = '';
        pos += 1;
      } else if (c === LF || (c === CR && text.charCodeAt(pos + 1) === LF)) {
        fields.push(field);
        pos += c === CR ? 2 : 1;
        line += 1;
        done = true;
      } else if (c === QUOTE) {
        throw new InvalidInputError(
          `${source} line ${line}: a quote inside an unquoted field (quote the whole field and double the quote)`,
        );
      } else {
        field += text[pos];
        pos += 1;
      }
    }
    yield { line: start, fields };
  }
}

/** One data row: its record, or why it has none. */
export type CsvRecord =
  | { line: number; record: TxRecord; problems?: undefined }
  | { line: number; record?: undefined; problems: FieldProblem[]; values: Record<string, string> };

/**
 * The transactions of a CSV file with a header naming the declared columns (in any order; other columns are ignored,
 * dropped ones never read). Yields every row, bad ones with their problems; `readTransactionsCsv` stops at the first.
 */
export function* csvRecords(text: string, source: string, contract: RecordContract, labels: LabelRule): Generator<CsvRecord> {
  const rows = csvRows(text, source);
  const first = rows.next();
  if (first.done) throw new InvalidInputError(`${source}: the file is empty (a header line is needed)`);
  const header = first.value.fields.map((name) => name.trim());
  const missing = missingColumns(contract.declaration, header, labels === 'required');
  if (missing.length) {
    throw new InvalidInputError(
      `${source}: the header lacks ${missing.map((m) => `"${m.column}" (${m.key})`).join(', ')}; found: ${header.join(', ')}`,
    );
  }
  const dropped = new Set(contract.declaration.drop);
  const wanted = header.map((name, i) => ({ name, i })).filter(({ name }) => !dropped.has(name));
  for (const { line, fields } of rows) {
    if (fields.length !== header.length) {
      yield { line, problems: [{ field: '(row)', rule: `has ${fields.length} fields, the header has ${header.length}` }], values: {} };
      continue;
    }
    const values: Record<string, string> = {};
    for (const { name, i } of wanted) values[name] = fields[i];
    const read = contract.readTransaction(values, { labels, text: true });
    if (read.value) yield { line, record: read.value };
    else yield { line, problems: read.problems, values };
  }
}

/** The records of a CSV file; the first bad row stops the read with its line, column and rule. */
export function* readTransactionsCsv(text: string, source: string, contract: RecordContract, labels: LabelRule): Generator<TxRecord> {
  for (const row of csvRecords(text, source, contract, labels)) {
    if (row.problems) throw new InvalidInputError(`${source} line ${row.line}: ${describeProblems(row.problems)}`);
    yield row.record;
  }
}
