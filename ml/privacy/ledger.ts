// The lifetime privacy ledger's math (no I/O): one entry per training attempt, composed by PLD over every attempt
// that touched an event day (transaction unit) or, for the card unit, over every attempt of the rolling period (each
// run trains on every card it has). Heterogeneous mechanisms compose by convolving their PLDs on one grid, add and
// remove adjacency separately, and ε is the worse of the two: what dp-accounting's PLDAccountant does for the same
// events (tools/reference/privacy_ledger.py recomposes a ledger with it). The mechanisms: DP-SGD's Poisson-subsampled
// Gaussian steps, a Gaussian release (a DP count, a DP-EBM histogram), an (ε, δ)-DP release by its dominating PLD (a
// private tuning search), a composition of these, and non-private training (unbounded).
import { InvalidInputError } from '../errors';
import { type Accountant, epsilon } from './accountant';
import { noiseMultiplierFor } from './calibrate';
import {
  type Adjacency,
  approximateDpPld,
  composePlds,
  connectDotsPld,
  DEFAULT_VALUE_DISCRETIZATION_INTERVAL,
  type DiscretePld,
  epsilonForDelta,
  selfCompose,
} from './pld';

export type LedgerUnit = 'transaction' | 'card';

/**
 * What an attempt released, in the terms its accountant needs. Mechanism-agnostic: a new model family or a DP count
 * adds a kind here (and in composeMechanism and the reference script), never a new ledger.
 */
export type LedgerMechanism =
  /** DP-SGD: `steps` Poisson-subsampled Gaussian steps, rate q per unit, noise σ·C on sums clipped to C. */
  | { kind: 'poisson-gaussian'; samplingRate: number; noiseMultiplier: number; steps: number }
  /** One Gaussian release of a query with this L2 sensitivity (e.g. a DP count). */
  | { kind: 'gaussian'; sensitivity: number; sigma: number }
  /**
   * An (ε, δ)-DP release accounted by its worst-case (dominating) PLD: e.g. a private tuning search, whose privacy
   * comes from RDP (Papernot–Steinke, ml/tuning/accounting.ts) converted to (ε, δ).
   */
  | { kind: 'approximate-dp'; epsilon: number; delta: number }
  /** Several mechanisms run on the same data (e.g. a DP count, then DP-SGD). */
  | { kind: 'composition'; parts: LedgerMechanism[] }
  /** Training without DP: unbounded ε on every day it touched (recorded so the ledger never claims otherwise). */
  | { kind: 'non-private' };

/**
 * How an attempt ended; 'training' until it does ('tuned': a search on private data that released its best trial).
 * Display only: every entry counts, whatever its outcome.
 */
export const LEDGER_OUTCOMES = ['training', 'promoted', 'rejected', 'expired', 'superseded', 'failed', 'tuned'] as const;
export type LedgerOutcome = (typeof LEDGER_OUTCOMES)[number];

export interface LedgerEntry {
  /** The attempt (a Temporal run id): one entry per attempt, rewritten in place by its retries. */
  runId: string;
  workflowId?: string;
  unit: LedgerUnit;
  /** The event days of its training data, 'YYYY-MM-DD', inclusive. */
  days: { first: string; last: string };
  /** When the entry was first written (ISO 8601): the card unit's rolling period counts from it. */
  recordedAt: string;
  outcome: LedgerOutcome;
  /** The δ the run was calibrated at (the ledger composes ε at the budget's δ). */
  delta: number;
  mechanism: LedgerMechanism;
  /** The model version it produced, once registered. */
  modelVersion?: string;
}

export interface LedgerBudget {
  unit: LedgerUnit;
  epsilon: number;
  delta: number;
  /** The card unit's rolling period in days. */
  periodDays: number;
}

/** ε is null when unbounded (a non-private entry): JSON has no infinity. */
export interface ComposedPrivacy {
  epsilon: number | null;
  delta: number;
  runs: string[];
}

export interface DayPrivacy extends ComposedPrivacy {
  day: string;
}

export interface PeriodPrivacy extends ComposedPrivacy {
  period: { from: string; to: string };
}

export interface LedgerReport {
  unit: LedgerUnit;
  budget: { epsilon: number; delta: number; period: string };
  days: DayPrivacy[];
  /** The worst event day (transaction unit) or the rolling period ending now (card unit); null on an empty ledger. */
  worst: DayPrivacy | PeriodPrivacy | null;
  entries: LedgerEntry[];
}

const DAY_MS = 86_400_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const dayNumber = (day: string) => Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
const isoDay = (n: number) => new Date(n * DAY_MS).toISOString().slice(0, 10);

/** Throws InvalidInputError naming the entry and field unless the entry is well formed. */
export function checkEntry(entry: LedgerEntry): void {
  const fail = (field: string, rule: string) => {
    throw new InvalidInputError(`ledger entry ${entry.runId ?? '(no runId)'}: ${field} must be ${rule}`);
  };
  if (typeof entry.runId !== 'string' || !entry.runId) fail('runId', 'a non-empty string');
  if (entry.unit !== 'transaction' && entry.unit !== 'card') fail('unit', 'transaction or card');
  for (const side of ['first', 'last'] as const) {
    const day = entry.days?.[side];
    if (typeof day !== 'string' || !DAY.test(day) || Number.isNaN(dayNumber(day))) fail(`days.${side}`, 'a day YYYY-MM-DD');
  }
  if (dayNumber(entry.days.first) > dayNumber(entry.days.last)) fail('days', 'first <= last');
  if (Number.isNaN(Date.parse(entry.recordedAt))) fail('recordedAt', 'an ISO 8601 time');
  if (!(entry.delta > 0 && entry.delta < 1)) fail('delta', 'in (0, 1)');
  checkMechanism(entry.mechanism, 'mechanism', fail);
}

function checkMechanism(m: LedgerMechanism, at: string, fail: (field: string, rule: string) => void): void {
  const positive = (field: string, value: unknown) => {
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) fail(`${at}.${field}`, 'a finite number > 0');
  };
  switch (m?.kind) {
    case 'poisson-gaussian':
      if (!(m.samplingRate > 0 && m.samplingRate <= 1)) fail(`${at}.samplingRate`, 'in (0, 1]');
      positive('noiseMultiplier', m.noiseMultiplier);
      if (!Number.isSafeInteger(m.steps) || m.steps < 1) fail(`${at}.steps`, 'a whole number >= 1');
      return;
    case 'gaussian':
      positive('sensitivity', m.sensitivity);
      positive('sigma', m.sigma);
      return;
    case 'approximate-dp':
      if (typeof m.epsilon !== 'number' || !(m.epsilon >= 0) || !Number.isFinite(m.epsilon)) fail(`${at}.epsilon`, 'a finite number >= 0');
      if (typeof m.delta !== 'number' || !(m.delta >= 0 && m.delta < 1)) fail(`${at}.delta`, 'in [0, 1)');
      return;
    case 'composition':
      if (!Array.isArray(m.parts) || m.parts.length === 0) fail(`${at}.parts`, 'a non-empty list');
      for (const [i, part] of m.parts.entries()) checkMechanism(part, `${at}.parts[${i}]`, fail);
      return;
    case 'non-private':
      return;
    default:
      fail(`${at}.kind`, 'poisson-gaussian, gaussian, approximate-dp, composition or non-private');
  }
}

/** A mechanism's PLD under each adjacency, on one grid. */
type PldPair = Record<Adjacency, DiscretePld>;

const UNBOUNDED = (interval: number): DiscretePld => ({ interval, lowerIndex: 0, probs: new Float64Array(0), infinityMass: 1 });

function gaussianPair(q: number, sigma: number, steps: number, interval: number): PldPair {
  const remove = selfCompose(connectDotsPld(q, sigma, 'remove', interval), steps);
  // Without subsampling the Gaussian is symmetric: add and remove have the same loss (dp-accounting uses remove's).
  return { remove, add: q === 1 ? remove : selfCompose(connectDotsPld(q, sigma, 'add', interval), steps) };
}

function mechanismPld(m: LedgerMechanism, interval: number): PldPair {
  switch (m.kind) {
    case 'poisson-gaussian':
      return gaussianPair(m.samplingRate, m.noiseMultiplier, m.steps, interval);
    case 'gaussian':
      return gaussianPair(1, m.sigma / m.sensitivity, 1, interval);
    case 'approximate-dp': {
      const pld = approximateDpPld(m.epsilon, m.delta, interval);
      return { remove: pld, add: pld };
    }
    case 'composition':
      return m.parts.map((part) => mechanismPld(part, interval)).reduce(composePair);
    case 'non-private':
      return { remove: UNBOUNDED(interval), add: UNBOUNDED(interval) };
  }
}

const composePair = (a: PldPair, b: PldPair): PldPair => ({ remove: composePlds(a.remove, b.remove), add: composePlds(a.add, b.add) });

/** Composes sets of entries, reusing each entry's PLD and each distinct set's result. */
export class LedgerComposer {
  private readonly plds = new Map<string, PldPair>();
  private readonly results = new Map<string, number | null>();

  constructor(
    readonly delta: number,
    readonly interval = DEFAULT_VALUE_DISCRETIZATION_INTERVAL,
  ) {}

  private pldOf(entry: LedgerEntry): PldPair {
    const key = JSON.stringify(entry.mechanism);
    let pld = this.plds.get(key);
    if (!pld) {
      pld = mechanismPld(entry.mechanism, this.interval);
      this.plds.set(key, pld);
    }
    return pld;
  }

  /** ε at the composer's δ of all `entries` together (null: unbounded; 0 for none). */
  epsilon(entries: readonly LedgerEntry[]): number | null {
    const key = entries.map((e) => e.runId).join('\n');
    if (this.results.has(key)) return this.results.get(key) as number | null;
    if (!entries.length) return 0;
    // Identical mechanisms (the schedule's runs usually are) compose in one step, as a power in the Fourier domain.
    const counts = new Map<string, { entry: LedgerEntry; times: number }>();
    for (const entry of entries) {
      const same = counts.get(JSON.stringify(entry.mechanism));
      if (same) same.times += 1;
      else counts.set(JSON.stringify(entry.mechanism), { entry, times: 1 });
    }
    const composed = [...counts.values()]
      .map(({ entry, times }) => {
        const pld = this.pldOf(entry);
        if (times === 1) return pld;
        const remove = selfCompose(pld.remove, times);
        return { remove, add: pld.add === pld.remove ? remove : selfCompose(pld.add, times) };
      })
      .reduce(composePair);
    const epsilon = Math.max(epsilonForDelta(composed.remove, this.delta), epsilonForDelta(composed.add, this.delta));
    const result = Number.isFinite(epsilon) ? epsilon : null;
    this.results.set(key, result);
    return result;
  }
}

const byRecorded = (a: LedgerEntry, b: LedgerEntry) => a.recordedAt.localeCompare(b.recordedAt) || a.runId.localeCompare(b.runId);

/** Per event day, the composition of every entry whose window covers it. */
export function composeDays(entries: readonly LedgerEntry[], delta: number, composer = new LedgerComposer(delta)): DayPrivacy[] {
  const sorted = [...entries].sort(byRecorded);
  const covering = new Map<number, LedgerEntry[]>();
  for (const entry of sorted) {
    for (let d = dayNumber(entry.days.first); d <= dayNumber(entry.days.last); d++) {
      const list = covering.get(d) ?? [];
      list.push(entry);
      covering.set(d, list);
    }
  }
  return [...covering.keys()]
    .sort((a, b) => a - b)
    .map((d) => {
      const runs = covering.get(d) as LedgerEntry[];
      return { day: isoDay(d), epsilon: composer.epsilon(runs), delta, runs: runs.map((e) => e.runId) };
    });
}

/** The entries recorded within the `periodDays` days up to `now`. */
export function entriesInPeriod(entries: readonly LedgerEntry[], periodDays: number, now: Date): LedgerEntry[] {
  const from = now.getTime() - periodDays * DAY_MS;
  return entries.filter((e) => Date.parse(e.recordedAt) > from).sort(byRecorded);
}

/** The composition over every card: all entries of the rolling period ending `now` (each run touches every card). */
export function composePeriod(
  entries: readonly LedgerEntry[],
  budget: LedgerBudget,
  now: Date,
  composer = new LedgerComposer(budget.delta),
): PeriodPrivacy {
  const runs = entriesInPeriod(entries, budget.periodDays, now);
  return {
    period: { from: new Date(now.getTime() - budget.periodDays * DAY_MS).toISOString(), to: now.toISOString() },
    epsilon: composer.epsilon(runs),
    delta: budget.delta,
    runs: runs.map((e) => e.runId),
  };
}

const worse = (a: number | null, b: number | null) => a === null || (b !== null && a > b);

/** The ledger as `fraudops privacy ledger --json` prints it. Entries of the other unit are listed but not composed. */
export function ledgerReport(entries: readonly LedgerEntry[], budget: LedgerBudget, now: Date): LedgerReport {
  const composer = new LedgerComposer(budget.delta);
  const sorted = [...entries].sort(byRecorded);
  const mine = sorted.filter((e) => e.unit === budget.unit);
  const days = composeDays(mine, budget.delta, composer);
  let worst: LedgerReport['worst'] = null;
  if (budget.unit === 'card') worst = mine.length ? composePeriod(mine, budget, now, composer) : null;
  else for (const day of days) if (!worst || worse(day.epsilon, worst.epsilon)) worst = day;
  return {
    unit: budget.unit,
    budget: { epsilon: budget.epsilon, delta: budget.delta, period: budget.unit === 'card' ? `${budget.periodDays}d` : 'event-day' },
    days,
    worst,
    entries: sorted,
  };
}

export interface BudgetCheck {
  /** The days (transaction unit) or the period (card unit) that would exceed the budget with the candidate. */
  exceeded: Array<DayPrivacy | PeriodPrivacy>;
  /** The worst composition with the candidate: the run's lifetime ε. */
  worst: DayPrivacy | PeriodPrivacy;
}

/**
 * What the ledger would say with `candidate` added (replacing an entry of the same run: a retry): the days it
 * touches (transaction unit) or the period (card unit), and those over the budget.
 */
export function checkBudget(entries: readonly LedgerEntry[], candidate: LedgerEntry, budget: LedgerBudget, now: Date): BudgetCheck {
  const others = entries.filter((e) => e.runId !== candidate.runId && e.unit === budget.unit);
  const composer = new LedgerComposer(budget.delta);
  if (budget.unit === 'card') {
    const period = composePeriod([...others, candidate], budget, now, composer);
    return { exceeded: worse(period.epsilon, budget.epsilon) ? [period] : [], worst: period };
  }
  const first = dayNumber(candidate.days.first);
  const last = dayNumber(candidate.days.last);
  const touching = others.filter((e) => dayNumber(e.days.last) >= first && dayNumber(e.days.first) <= last);
  const days = composeDays([...touching, candidate], budget.delta, composer).filter((d) => {
    const n = dayNumber(d.day);
    return n >= first && n <= last;
  });
  let worst = days[0];
  for (const day of days) if (worse(day.epsilon, worst.epsilon)) worst = day;
  return { exceeded: days.filter((d) => worse(d.epsilon, budget.epsilon)), worst };
}

/** "2024-05-01 to 2024-05-03 (ε 3.41), 2024-05-07 (ε 3.02)": consecutive days over the budget as ranges. */
export function describeExceeded(exceeded: BudgetCheck['exceeded']): string {
  const parts: string[] = [];
  const shown = (e: number | null) => (e === null ? '∞ (a non-private run)' : e.toFixed(3));
  let run: DayPrivacy[] = [];
  const flush = () => {
    if (!run.length) return;
    const top = run.reduce((a, b) => (worse(a.epsilon, b.epsilon) ? a : b));
    const range = run.length === 1 ? run[0].day : `${run[0].day} to ${run[run.length - 1].day}`;
    parts.push(`${range} (ε up to ${shown(top.epsilon)})`);
    run = [];
  };
  for (const item of exceeded) {
    if ('period' in item) {
      parts.push(`every card over ${item.period.from.slice(0, 10)} to ${item.period.to.slice(0, 10)} (ε ${shown(item.epsilon)})`);
      continue;
    }
    const previous = run[run.length - 1];
    if (previous && dayNumber(item.day) !== dayNumber(previous.day) + 1) flush();
    run.push(item);
  }
  flush();
  return parts.join(', ');
}

export interface ScheduledNoiseParams {
  samplingRate: number;
  steps: number;
  delta: number;
  /** The most this run may spend alone. */
  targetEpsilon: number;
  lifetimeEpsilon: number;
  /** How many runs like this one reach the same day (or card) within the budget's reach. */
  runsInReach: number;
  accountant: Accountant;
}

/**
 * The schedule's noise: the larger of the σ that keeps this run alone within targetEpsilon and the σ that keeps
 * `runsInReach` runs like it within lifetimeEpsilon (their composition is one mechanism of steps × runsInReach steps).
 */
export function scheduledNoiseMultiplier(p: ScheduledNoiseParams): { noiseMultiplier: number; bound: 'run' | 'lifetime' } {
  const mechanism = { samplingRate: p.samplingRate, delta: p.delta, accountant: p.accountant };
  const calibrate = (targetEpsilon: number, steps: number) => {
    try {
      return noiseMultiplierFor({ ...mechanism, steps, targetEpsilon }).noiseMultiplier;
    } catch (err) {
      if (err instanceof RangeError)
        throw new InvalidInputError(`privacy: ε ${targetEpsilon} over ${steps} steps cannot be reached: ${err.message}`);
      throw err;
    }
  };
  const run = calibrate(p.targetEpsilon, p.steps);
  const inReach = { ...mechanism, steps: p.steps * p.runsInReach, noiseMultiplier: run };
  // One evaluation usually shows the run's own σ already fits the lifetime budget (a calibration costs dozens).
  if (epsilon(inReach, p.accountant).epsilon <= p.lifetimeEpsilon) return { noiseMultiplier: run, bound: 'run' };
  return { noiseMultiplier: Math.max(run, calibrate(p.lifetimeEpsilon, inReach.steps)), bound: 'lifetime' };
}
