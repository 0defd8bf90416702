// The simulator's parameters, the Handbook defaults and the rule each parameter must follow.
import { InvalidInputError } from '../ml/errors';

export interface SimulatorConfig {
  /** Number of customers (ids 0 … customers − 1). */
  customers: number;
  /** Number of terminals (ids 0 … terminals − 1). */
  terminals: number;
  /** Number of simulated days. */
  days: number;
  /** First day, YYYY-MM-DD (UTC). */
  startDate: string;
  /** A customer uses the terminals at Euclidean distance < radius. */
  radius: number;
  /** Seed of every random stream. */
  seed: number;
}

/** The Handbook's dataset (chapter 3): about 1.75 M transactions, 0.84 % fraud. */
export const HANDBOOK_DEFAULTS: Readonly<SimulatorConfig> = Object.freeze({
  customers: 5000,
  terminals: 10000,
  days: 183,
  startDate: '2018-04-01',
  radius: 5,
  seed: 0,
});

/** TX_TIME_SECONDS is kept in 32-bit integers. */
export const MAX_DAYS = Math.floor(2 ** 31 / 86400) - 1;

/** A valid calendar date written YYYY-MM-DD. */
export function isIsoDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const wholeAtLeast =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: unknown) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;

/** The rule of each parameter: a test and its wording (used by the library and the CLI flags). */
export const CONFIG_RULES: { readonly [K in keyof SimulatorConfig]: { readonly rule: string; readonly ok: (value: unknown) => boolean } } =
  {
    customers: { rule: 'a whole number >= 1', ok: wholeAtLeast(1, 2 ** 31 - 1) },
    terminals: { rule: 'a whole number >= 1', ok: wholeAtLeast(1, 2 ** 31 - 1) },
    days: { rule: `a whole number from 1 to ${MAX_DAYS}`, ok: wholeAtLeast(1, MAX_DAYS) },
    startDate: { rule: 'a valid date written YYYY-MM-DD', ok: (value) => typeof value === 'string' && isIsoDate(value) },
    radius: { rule: 'a finite number > 0', ok: (value) => typeof value === 'number' && Number.isFinite(value) && value > 0 },
    seed: { rule: `a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, ok: wholeAtLeast(0) },
  };

/** The defaults overlaid with `overrides`, checked; a bad value throws InvalidInputError naming the field and rule. */
export function resolveSimulatorConfig(overrides: Partial<SimulatorConfig> = {}): SimulatorConfig {
  const config: SimulatorConfig = { ...HANDBOOK_DEFAULTS, ...overrides };
  for (const field of Object.keys(CONFIG_RULES) as (keyof SimulatorConfig)[]) {
    const { rule, ok } = CONFIG_RULES[field];
    if (!ok(config[field])) throw new InvalidInputError(`simulator ${field} = ${JSON.stringify(config[field])}: must be ${rule}`);
  }
  return config;
}
