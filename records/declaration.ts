// The record declaration (config `records:`): which column plays which role, how time is written, the extra columns
// and their kind, public bounds, personal columns to drop or pseudonymize, and how late or early an event may be.
// The default is the handbook's record, so the simulator's feed needs no declaration.
import { z } from 'zod';
import { DURATION_RULE, durationSeconds, isTimeZone, LOCAL_FORMAT, TIME_FORMATS, type TimeSpec } from './datetime';

export const ID_ROLES = ['id', 'customer', 'terminal'] as const;
export type IdRole = (typeof ID_ROLES)[number];
export const COLUMN_KINDS = ['categorical', 'numeric', 'carried'] as const;
export type ColumnKind = (typeof COLUMN_KINDS)[number];

/** Range of a numeric column without a declared one: any value a real feed plausibly has. */
export const DEFAULT_NUMERIC_RANGE: readonly [number, number] = [-1e12, 1e12];
/** Amount bounds without a declared one. */
export const DEFAULT_AMOUNT_BOUNDS: readonly [number, number] = [0, 1e9];

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the rule refuses
const columnName = z.string().regex(/^[^\u0000-\u001f\u007f]{1,128}$/, 'a column name: 1 to 128 characters, no control characters');
const range = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && lo < hi, 'a range [lo, hi] of finite numbers with lo < hi');
const duration = z.string().refine((text) => Number.isFinite(durationSeconds(text)), DURATION_RULE);
const columnKind = z.enum(COLUMN_KINDS, {
  error: () => `a column kind: ${COLUMN_KINDS.join(' | ')} (or {kind: numeric, range: [lo, hi]})`,
});
/** Where the DP feature transform takes its centres and scales from (both public: no statistic of the data). */
export const MOMENT_SOURCES = ['bounds', 'simulator'] as const;
/** Hash buckets of a categorical column without a declared number. */
export const DEFAULT_CATEGORY_BUCKETS = 8;

export const recordsSchema = z
  .strictObject({
    id: columnName,
    time: z.strictObject({
      column: columnName,
      format: z.enum(TIME_FORMATS, { error: () => `an unsupported time format; use one of: ${TIME_FORMATS.join(' | ')}` }),
      timezone: z.string().refine(isTimeZone, 'an IANA time zone (e.g. UTC, Europe/Brussels, America/New_York)').default('UTC'),
    }),
    customer: columnName,
    terminal: columnName,
    amount: columnName,
    label: columnName,
    columns: z
      .record(
        columnName,
        z.union(
          [
            columnKind,
            z.strictObject({ kind: columnKind, range: range.optional(), buckets: z.number().int().min(2).max(1024).optional() }),
          ],
          {
            error: () =>
              `a column kind: ${COLUMN_KINDS.join(' | ')}, or {kind: numeric, range: [lo, hi]}, or {kind: categorical, buckets: n}`,
          },
        ),
      )
      .default({}),
    /** Columns known only with the label (e.g. the simulator's fraud scenario): they travel on the label topic. */
    labelColumns: z.array(columnName).default([]),
    bounds: z
      .strictObject({
        amount: range.optional(),
        cardTxPerDay: z.number().positive().default(20),
        terminalTxPerDay: z.number().positive().default(1000),
      })
      .default({ cardTxPerDay: 20, terminalTxPerDay: 1000 }),
    moments: z
      .enum(MOMENT_SOURCES, { error: () => `where the DP transform's moments come from: ${MOMENT_SOURCES.join(' | ')}` })
      .default('bounds'),
    drop: z.array(columnName).default([]),
    pseudonymize: z.array(z.enum(ID_ROLES, { error: () => `a role to pseudonymize: ${ID_ROLES.join(' | ')}` })).default([]),
    lateness: duration.default('5m'),
    maxFuture: duration.default('1d'),
  })
  .superRefine((decl, ctx) => {
    const owner = new Map<string, string>();
    const claim = (column: string, key: string, path: PropertyKey[]) => {
      const other = owner.get(column);
      if (other)
        ctx.addIssue({ code: 'custom', path, message: `column "${column}" is already declared as ${other}; a column has one role` });
      else owner.set(column, key);
    };
    claim(decl.id, 'records.id', ['id']);
    claim(decl.time.column, 'records.time.column', ['time', 'column']);
    for (const role of ['customer', 'terminal', 'amount', 'label'] as const) claim(decl[role], `records.${role}`, [role]);
    for (const name of Object.keys(decl.columns)) claim(name, `records.columns.${name}`, ['columns', name]);
    decl.labelColumns.forEach((name, i) => {
      claim(name, `records.labelColumns[${i}]`, ['labelColumns', i]);
    });
    decl.drop.forEach((name, i) => {
      const used = owner.get(name);
      if (used)
        ctx.addIssue({
          code: 'custom',
          path: ['drop', i],
          message: `column "${name}" is dropped but used as ${used}; a dropped column is never read`,
        });
    });
    if (new Set(decl.pseudonymize).size !== decl.pseudonymize.length)
      ctx.addIssue({ code: 'custom', path: ['pseudonymize'], message: 'a role is listed twice' });
  });

export type RecordsSettings = z.infer<typeof recordsSchema>;

export interface ColumnSpec {
  name: string;
  kind: ColumnKind;
  /** numeric: the accepted (and public) range. */
  range?: readonly [number, number];
  /** categorical: the number of hash buckets it is encoded into. */
  buckets?: number;
}

/** The declaration, resolved: every default applied, durations in seconds. */
export interface RecordDeclaration {
  id: string;
  time: { column: string } & TimeSpec;
  customer: string;
  terminal: string;
  amount: string;
  label: string;
  columns: ColumnSpec[];
  labelColumns: string[];
  /** Public bounds: of the amount, and of a card's and a terminal's transactions per day (for the DP transform). */
  bounds: { amount: readonly [number, number]; cardTxPerDay: number; terminalTxPerDay: number };
  /** `simulator`: the DP transform uses the handbook simulator's analytic moments (simulated data only); `bounds`: the bounds above. */
  moments: (typeof MOMENT_SOURCES)[number];
  drop: string[];
  pseudonymize: IdRole[];
  latenessSeconds: number;
  maxFutureSeconds: number;
}

export function resolveDeclaration(settings: RecordsSettings): RecordDeclaration {
  return {
    id: settings.id,
    time: { column: settings.time.column, format: settings.time.format, timezone: settings.time.timezone },
    customer: settings.customer,
    terminal: settings.terminal,
    amount: settings.amount,
    label: settings.label,
    columns: Object.entries(settings.columns).map(([name, spec]) => {
      const kind = typeof spec === 'string' ? spec : spec.kind;
      const declared: { range?: readonly [number, number]; buckets?: number } = typeof spec === 'string' ? {} : spec;
      if (kind === 'numeric') return { name, kind, range: declared.range ?? DEFAULT_NUMERIC_RANGE };
      if (kind === 'categorical') return { name, kind, buckets: declared.buckets ?? DEFAULT_CATEGORY_BUCKETS };
      return { name, kind };
    }),
    labelColumns: settings.labelColumns,
    bounds: {
      amount: settings.bounds.amount ?? DEFAULT_AMOUNT_BOUNDS,
      cardTxPerDay: settings.bounds.cardTxPerDay,
      terminalTxPerDay: settings.bounds.terminalTxPerDay,
    },
    moments: settings.moments,
    drop: settings.drop,
    pseudonymize: settings.pseudonymize,
    latenessSeconds: durationSeconds(settings.lateness),
    maxFutureSeconds: durationSeconds(settings.maxFuture),
  };
}

/** The handbook's record (HANDBOOK.md): what the simulator writes, and the default of `records:`. */
export const HANDBOOK_RECORDS: RecordsSettings = recordsSchema.parse({
  id: 'TRANSACTION_ID',
  time: { column: 'TX_DATETIME', format: LOCAL_FORMAT, timezone: 'UTC' },
  customer: 'CUSTOMER_ID',
  terminal: 'TERMINAL_ID',
  amount: 'TX_AMOUNT',
  label: 'TX_FRAUD',
  columns: { TX_TIME_SECONDS: 'carried', TX_TIME_DAYS: 'carried' },
  labelColumns: ['TX_FRAUD_SCENARIO'],
  bounds: { amount: [0, 100_000] },
  moments: 'simulator',
  lateness: '5m',
  maxFuture: '1d',
});

export const HANDBOOK_DECLARATION: RecordDeclaration = resolveDeclaration(HANDBOOK_RECORDS);

/** The roles' columns and the extra columns a transaction message may carry, in declaration order. */
export function transactionColumns(decl: RecordDeclaration): string[] {
  return [decl.id, decl.time.column, decl.customer, decl.terminal, decl.amount, ...decl.columns.map((c) => c.name)];
}

/** Declared columns missing from a file's header, as problems naming the declaration key. */
export function missingColumns(decl: RecordDeclaration, header: readonly string[], labelled: boolean): { key: string; column: string }[] {
  const present = new Set(header);
  const wanted: { key: string; column: string }[] = [
    { key: 'records.id', column: decl.id },
    { key: 'records.time.column', column: decl.time.column },
    { key: 'records.customer', column: decl.customer },
    { key: 'records.terminal', column: decl.terminal },
    { key: 'records.amount', column: decl.amount },
    ...decl.columns.map((c) => ({ key: `records.columns.${c.name}`, column: c.name })),
  ];
  if (labelled) wanted.push({ key: 'records.label', column: decl.label });
  return wanted.filter((w) => !present.has(w.column));
}
