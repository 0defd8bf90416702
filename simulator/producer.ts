// Replays transactions as a card network would emit them: each transaction on `transactions` (no label)
// at its own time, and its label on `transaction-labels` once the chargeback delay has passed. Pacing
// follows simulated time (`speedup`) and/or a message rate; with neither, it publishes as fast as it can.
import { InvalidInputError } from '../ml/errors';
import { type LabelMessage, parseTxDatetime, type Transaction } from './schema';

export interface OutgoingMessage {
  stream: 'transactions' | 'labels';
  key: string;
  value: string;
  /** Simulated time (epoch seconds) at which the message happens. */
  time: number;
}

/** Transactions and their delayed labels, merged in simulated time order. Input must be sorted by time. */
export function* publicationOrder(transactions: Iterable<Transaction>, labelDelayDays: number): Generator<OutgoingMessage> {
  const delay = labelDelayDays * 86_400;
  const pending: OutgoingMessage[] = [];
  let head = 0;
  let last = Number.NEGATIVE_INFINITY;
  for (const tx of transactions) {
    const time = parseTxDatetime(tx.TX_DATETIME);
    if (!Number.isFinite(time))
      throw new InvalidInputError(`transaction ${tx.TRANSACTION_ID}: TX_DATETIME "${tx.TX_DATETIME}" is not a UTC date`);
    if (time < last) {
      throw new InvalidInputError(
        `transaction ${tx.TRANSACTION_ID}: TX_DATETIME ${tx.TX_DATETIME} is earlier than the previous one; input must be sorted by time`,
      );
    }
    last = time;
    while (head < pending.length && pending[head].time <= time) yield pending[head++];
    if (head > 4096 && head * 2 > pending.length) {
      pending.splice(0, head);
      head = 0;
    }
    const { TX_FRAUD, TX_FRAUD_SCENARIO, ...unlabelled } = tx;
    yield { stream: 'transactions', key: String(tx.CUSTOMER_ID), value: JSON.stringify(unlabelled), time };
    const label: LabelMessage = { TRANSACTION_ID: tx.TRANSACTION_ID, CUSTOMER_ID: tx.CUSTOMER_ID, TX_FRAUD, TX_FRAUD_SCENARIO };
    pending.push({ stream: 'labels', key: String(tx.CUSTOMER_ID), value: JSON.stringify(label), time: time + delay });
  }
  while (head < pending.length) yield pending[head++];
}

export interface Pacing {
  /** Simulated seconds per real second; undefined: no time pacing. */
  speedup?: number;
  /** At most this many messages per real second; undefined: no limit. */
  rate?: number;
}

/** Milliseconds to wait before the `index`-th message (simulated `time`) may go out. */
export class Pacer {
  private startReal?: number;
  private startSim?: number;

  constructor(
    private readonly pacing: Pacing,
    private readonly now: () => number = () => performance.now(),
  ) {}

  delayMs(index: number, time: number): number {
    if (this.startReal === undefined || this.startSim === undefined) {
      this.startReal = this.now();
      this.startSim = time;
    }
    let due = this.startReal;
    if (this.pacing.speedup) due = Math.max(due, this.startReal + ((time - this.startSim) / this.pacing.speedup) * 1000);
    if (this.pacing.rate) due = Math.max(due, this.startReal + (index / this.pacing.rate) * 1000);
    return Math.max(0, due - this.now());
  }
}

export interface PublishCounts {
  transactions: number;
  labels: number;
}

export interface PublishOptions extends Pacing {
  /** Messages per send call (default 1000); a paced run sends as soon as the next message is not yet due. */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (counts: PublishCounts) => void;
}

/**
 * Sends the messages in order through `send` (one call per batch, awaited before the next: nothing is
 * counted as sent before the broker acknowledged it). Stops after the current batch when `signal` aborts.
 */
export async function publish(
  messages: Iterable<OutgoingMessage>,
  send: (batch: OutgoingMessage[]) => Promise<void>,
  options: PublishOptions = {},
): Promise<PublishCounts & { interrupted: boolean }> {
  const batchSize = options.batchSize ?? 1000;
  const pacer = new Pacer(options);
  const counts: PublishCounts = { transactions: 0, labels: 0 };
  let batch: OutgoingMessage[] = [];
  const flush = async () => {
    if (!batch.length) return;
    await send(batch);
    for (const message of batch) counts[message.stream] += 1;
    batch = [];
    options.onProgress?.({ ...counts });
  };
  let index = 0;
  for (const message of messages) {
    if (options.signal?.aborted) break;
    const wait = pacer.delayMs(index, message.time);
    if (wait > 0) {
      await flush();
      await sleep(wait, options.signal);
      if (options.signal?.aborted) break;
    }
    batch.push(message);
    index += 1;
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return { ...counts, interrupted: options.signal?.aborted ?? false };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
