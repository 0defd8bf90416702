// A card-transaction export that is not the handbook's record, for tests of the record contract end to end: hex
// transaction ids, card numbers of 16 to 19 digits (strings: beyond 2^53), merchant names with commas and quotes,
// ISO-8601 times with offsets, a categorical and a numeric extra column, personal columns that must be dropped, and
// rows slightly out of order. The transactions and frauds come from the handbook simulator, so a model learns.
import { createHash } from 'node:crypto';
import { type RecordDeclaration, type RecordsSettings, recordsSchema, resolveDeclaration } from '../records';
import { simulate } from '../simulator';

/** The roles of a card export with epoch-second times: what the unit tests' declarations vary. */
export const CARD_EXPORT = {
  id: 'trans_num',
  time: { column: 'unix_time', format: 'epoch-seconds' },
  customer: 'cc_num',
  terminal: 'merchant',
  amount: 'amt',
  label: 'is_fraud',
} as const;

/** A card export's declaration: CARD_EXPORT with a test's own keys (columns, bounds, drop, pseudonymize, time…). */
export function cardsDeclaration(keys: Partial<Record<keyof RecordsSettings, unknown>> = {}): RecordDeclaration {
  return resolveDeclaration(recordsSchema.parse({ ...CARD_EXPORT, ...keys }));
}

/** The export of cardsFeed (what a user puts under `records:`): ISO-8601 times with offsets. */
export const CARDS_RECORDS = {
  ...CARD_EXPORT,
  time: { column: 'trans_date_trans_time', format: 'iso8601' },
  columns: { category: 'categorical', city_pop: { kind: 'numeric', range: [0, 10_000_000] } },
  bounds: { amount: [0, 10_000] },
  drop: ['first', 'last', 'street', 'dob'],
  pseudonymize: ['customer'],
  lateness: '5m',
  maxFuture: '1d',
} as const satisfies Partial<Record<keyof RecordsSettings, unknown>>;

export const CARDS_HEADER = [
  'trans_num',
  'trans_date_trans_time',
  'cc_num',
  'merchant',
  'category',
  'amt',
  'first',
  'last',
  'street',
  'city_pop',
  'dob',
  'is_fraud',
];

const CATEGORIES = ['grocery_pos', 'gas_transport', 'shopping_net', 'misc_pos', 'travel', 'food_dining'];
const FIRST = ['Jennifer', 'Stephanie', 'Edward', 'Jeremy', 'Tyler', 'Danielle'];
const LAST = ['Banks', 'Gill', 'Sanchez', 'White', 'Garcia', 'Nunez'];
const OFFSETS = ['+00:00', '+02:00', '-05:00', '+05:30'];

const hex = (text: string, length: number) => createHash('sha256').update(text).digest('hex').slice(0, length);

/** The card number of a customer: 16 to 19 digits, so most are beyond a JavaScript number's precision. */
export function cardNumber(customer: number): string {
  const digits = 16 + (customer % 4);
  const body = BigInt(`0x${hex(`card-${customer}`, 16)}`)
    .toString()
    .padStart(digits, '7');
  return `4${body.slice(0, digits - 1)}`;
}

/** A merchant name with a comma and quotes, as real exports have. */
export const merchantName = (terminal: number) => `fraud_Kub, "Mann" & Sons ${terminal}`;

/** An ISO-8601 time with one of several offsets (the same instant). */
function isoWithOffset(seconds: number, k: number): string {
  const offset = OFFSETS[k % OFFSETS.length];
  const sign = offset[0] === '-' ? -1 : 1;
  const minutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  return `${new Date((seconds + minutes * 60) * 1000).toISOString().slice(0, 19)}${offset}`;
}

const quote = (value: string) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

export interface CardsFeed {
  csv: string;
  rows: number;
  frauds: number;
  /** The raw card numbers. */
  cards: string[];
  /** Card numbers and personal values that must never be stored or published. */
  secrets: string[];
}

/** The export of a small simulation, rows in time order except neighbours within `jitterSeconds` swapped now and then. */
export function cardsFeed(options: {
  customers: number;
  terminals: number;
  days: number;
  seed?: number;
  startDate?: string;
  jitterSeconds?: number;
}): CardsFeed {
  const dataset = simulate({
    customers: options.customers,
    terminals: options.terminals,
    days: options.days,
    seed: options.seed ?? 7,
    startDate: options.startDate ?? '2019-01-01',
  });
  const { timeSeconds, customerId, terminalId, amountCents, fraud } = dataset.columns;
  const start = Date.parse(`${options.startDate ?? '2019-01-01'}T00:00:00Z`) / 1000;
  const order = Array.from({ length: dataset.size }, (_, i) => i);
  const jitter = options.jitterSeconds ?? 60;
  for (let i = 1; i < order.length; i += 7) {
    if (timeSeconds[order[i]] - timeSeconds[order[i - 1]] < jitter) [order[i - 1], order[i]] = [order[i], order[i - 1]];
  }
  const secrets = new Set<string>();
  const cards = new Set<string>();
  const lines = [CARDS_HEADER.join(',')];
  let frauds = 0;
  for (const row of order) {
    const customer = customerId[row];
    const card = cardNumber(customer);
    const person = {
      first: FIRST[customer % FIRST.length],
      last: `${LAST[customer % LAST.length]}-${customer}`,
      street: `${customer} Elm Street, Apt ${customer % 9}`,
      dob: `19${50 + (customer % 50)}-0${1 + (customer % 9)}-1${customer % 10}`,
    };
    secrets.add(card);
    cards.add(card);
    secrets.add(person.last);
    secrets.add(person.street);
    frauds += fraud[row];
    const values = [
      hex(`tx-${row}`, 16),
      isoWithOffset(start + timeSeconds[row], row),
      card,
      merchantName(terminalId[row]),
      CATEGORIES[terminalId[row] % CATEGORIES.length],
      (amountCents[row] / 100).toFixed(2),
      person.first,
      person.last,
      person.street,
      String(1000 + ((customer * 7919) % 2_000_000)),
      person.dob,
      String(fraud[row]),
    ];
    lines.push(values.map(quote).join(','));
  }
  return { csv: `${lines.join('\n')}\n`, rows: dataset.size, frauds, cards: [...cards], secrets: [...secrets] };
}
