// What the card unit does not cover, measured: a card's transactions enter the terminal windows of every later row at
// the same terminal (counts, and labels through the risk features), so removing a card also changes OTHER cards'
// training rows. Like SMOTE's influence, this counts, per card, the training rows of other cards (and those cards)
// that its transactions change. Pure: ids, times and the windows in, counts out.
import { InvalidInputError } from '../errors';
import { DAY_SECONDS, type FeatureColumns, WINDOW_DAYS } from '../features';

/** Every transaction whose features are computed (the timeline the training rows' windows read), one entry each. */
export interface TerminalTimeline {
  card: ArrayLike<string | number>;
  terminal: ArrayLike<string | number>;
  /** Seconds since the Unix epoch. */
  time: ArrayLike<number>;
}

export interface TerminalInfluenceOptions {
  /** D: a terminal window of a row at t covers (t − (D + n) days, t − D days]. */
  labelDelayDays: number;
  /** n: the longest terminal window (default the longest of WINDOW_DAYS). */
  windowDays?: number;
}

export interface CountSummary {
  max: number;
  mean: number;
}

export interface TerminalInfluence {
  labelDelayDays: number;
  windowDays: number;
  /** Cards in the timeline (each measured). */
  cards: number;
  /** Training rows (the targets). */
  trainingRows: number;
  /** Per card: training rows of other cards whose terminal features its transactions change. */
  otherRows: CountSummary;
  /** Per card: other cards with at least one such row. */
  otherCards: CountSummary;
  /** Cards that change at least one other card's training row, and their share of `cards`. */
  cardsAboveZero: number;
  shareAboveZero: number;
}

/** Dense indices 0 … k − 1 of ids, in order of first appearance. */
function indexIds(ids: ArrayLike<string | number>): { index: Int32Array; count: number } {
  const seen = new Map<string | number, number>();
  const index = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    let k = seen.get(ids[i]);
    if (k === undefined) {
      k = seen.size;
      seen.set(ids[i], k);
    }
    index[i] = k;
  }
  return { index, count: seen.size };
}

/** Rows sorted by (key, time), and where each key's run starts (offsets[k] … offsets[k + 1]). */
function groupByKey(rows: Int32Array, key: Int32Array, keys: number, time: ArrayLike<number>): { sorted: Int32Array; offsets: Int32Array } {
  const sorted = Int32Array.from(rows).sort((a, b) => key[a] - key[b] || time[a] - time[b] || a - b);
  const offsets = new Int32Array(keys + 1);
  for (const row of sorted) offsets[key[row] + 1]++;
  for (let k = 0; k < keys; k++) offsets[k + 1] += offsets[k];
  return { sorted, offsets };
}

/** First position in sorted[from, to) whose time is >= t. */
function lowerBound(sorted: Int32Array, from: number, to: number, time: ArrayLike<number>, t: number): number {
  let [lo, hi] = [from, to];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (time[sorted[mid]] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const summary = (counts: Int32Array): CountSummary => {
  let [max, sum] = [0, 0];
  for (const c of counts) {
    max = Math.max(max, c);
    sum += c;
  }
  return { max, mean: counts.length ? sum / counts.length : 0 };
};

/**
 * Per card, the training rows of other cards (`targets`: indices into the timeline) that its transactions reach
 * through the terminal windows: a transaction at s changes every row at the same terminal with s + D ≤ t < s + D + n
 * days. O(n log n + the rows reached).
 */
export function terminalInfluence(
  timeline: TerminalTimeline,
  targets: ArrayLike<number>,
  options: TerminalInfluenceOptions,
): TerminalInfluence {
  const n = timeline.time.length;
  if (timeline.card.length !== n || timeline.terminal.length !== n) {
    throw new InvalidInputError(
      `timeline: card (${timeline.card.length}), terminal (${timeline.terminal.length}) and time (${n}) must have one entry per transaction`,
    );
  }
  const windowDays = options.windowDays ?? Math.max(...WINDOW_DAYS);
  const { labelDelayDays } = options;
  if (!(Number.isFinite(labelDelayDays) && labelDelayDays >= 0))
    throw new InvalidInputError(`labelDelayDays = ${labelDelayDays}: must be a number >= 0`);
  if (!(Number.isFinite(windowDays) && windowDays > 0)) throw new InvalidInputError(`windowDays = ${windowDays}: must be a number > 0`);
  for (let i = 0; i < targets.length; i++) {
    if (!(Number.isSafeInteger(targets[i]) && targets[i] >= 0 && targets[i] < n))
      throw new InvalidInputError(`targets[${i}] = ${targets[i]}: must be a row of the timeline (0 … ${n - 1})`);
  }
  const { time } = timeline;
  const card = indexIds(timeline.card);
  const terminal = indexIds(timeline.terminal);
  const byTerminal = groupByKey(Int32Array.from(targets), terminal.index, terminal.count, time);
  const byCard = groupByKey(
    Int32Array.from({ length: n }, (_, i) => i),
    card.index,
    card.count,
    time,
  );
  // byCard's runs are sorted by time only; within a card, visit its transactions terminal by terminal.
  const [from, to] = [labelDelayDays * DAY_SECONDS, (labelDelayDays + windowDays) * DAY_SECONDS];
  const otherRows = new Int32Array(card.count);
  const otherCards = new Int32Array(card.count);
  const seenBy = new Int32Array(card.count).fill(-1);
  for (let c = 0; c < card.count; c++) {
    const own = byCard.sorted.subarray(byCard.offsets[c], byCard.offsets[c + 1]);
    const mine = Int32Array.from(own).sort((a, b) => terminal.index[a] - terminal.index[b] || time[a] - time[b]);
    let k = 0;
    while (k < mine.length) {
      const term = terminal.index[mine[k]];
      const [start, end] = [byTerminal.offsets[term], byTerminal.offsets[term + 1]];
      // Merged reach [lo, hi) of this card's transactions at this terminal: each target is counted once.
      let next = start;
      while (k < mine.length && terminal.index[mine[k]] === term) {
        const lo = time[mine[k]] + from;
        let hi = time[mine[k]] + to;
        k++;
        while (k < mine.length && terminal.index[mine[k]] === term && time[mine[k]] + from < hi) hi = time[mine[k++]] + to;
        for (let j = lowerBound(byTerminal.sorted, Math.max(next, start), end, time, lo); j < end; j++) {
          const row = byTerminal.sorted[j];
          if (time[row] >= hi) {
            next = j;
            break;
          }
          next = j + 1;
          const other = card.index[row];
          if (other === c) continue;
          otherRows[c]++;
          if (seenBy[other] !== c) {
            seenBy[other] = c;
            otherCards[c]++;
          }
        }
      }
    }
  }
  let cardsAboveZero = 0;
  for (const rows of otherRows) if (rows > 0) cardsAboveZero++;
  return {
    labelDelayDays,
    windowDays,
    cards: card.count,
    trainingRows: targets.length,
    otherRows: summary(otherRows),
    otherCards: summary(otherCards),
    cardsAboveZero,
    shareAboveZero: card.count ? cardsAboveZero / card.count : 0,
  };
}

/** The card unit's reach in a snapshot's columns (customer ids as cards), over its training rows. */
export function cardTerminalInfluence(data: FeatureColumns, trainRows: ArrayLike<number>, labelDelayDays: number): TerminalInfluence {
  return terminalInfluence({ card: data.customerId, terminal: data.terminalId, time: data.timestamp }, trainRows, { labelDelayDays });
}
