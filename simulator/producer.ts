// Replays records as a card network would emit them: each transaction on `transactions` (no label) at its own
// time, and its label on `transaction-labels` once the chargeback delay has passed, both written by the record
// contract and marked as admitted. Pacing follows event time (`speedup`) and/or a message rate; with neither, it
// publishes as fast as it can.

import { InvalidInputError } from '../ml/errors';
import { type IdEncoding, type RecordContract, SECONDS_PER_DAY, type TxRecord } from '../records';

export interface OutgoingMessage {
  stream: 'transactions' | 'labels';
  key: string;
  value: string;
  /** Event time (epoch seconds) at which the message happens. */
  time: number;
}

/**
 * Event-time order with a tolerance: a record may come up to `latenessSeconds` after a later one (a real feed's
 * disorder); one further behind is out of order.
 */
export class TimeOrder {
  private latest = Number.NEGATIVE_INFINITY;

  constructor(readonly latenessSeconds: number) {}

  /** 0 when `time` is accepted (it is then counted); otherwise how many seconds it lies behind the latest accepted time. */
  behind(time: number): number {
    if (time > this.latest) this.latest = time;
    const behind = this.latest - time;
    return behind > this.latenessSeconds ? behind : 0;
  }

  /** The rule an out-of-order record breaks, for a problem. */
  rule(behind: number): string {
    return `is ${behind} s earlier than an earlier row's time; rows must be in time order, disordered by at most records.lateness (${this.latenessSeconds} s)`;
  }
}

/**
 * The messages of labelled or unlabelled records, keyed by card, with the labels after `labelDelayDays`, merged in
 * event-time order. Records must be in time order within the declared lateness; those are published as given.
 */
export function* publicationOrder(
  records: Iterable<TxRecord>,
  contract: RecordContract,
  labelDelayDays: number,
  /** 'integer' for the simulator's records: the handbook's ids are integers on the wire. */
  ids: IdEncoding = 'string',
): Generator<OutgoingMessage> {
  const delay = labelDelayDays * SECONDS_PER_DAY;
  const order = new TimeOrder(contract.declaration.latenessSeconds);
  const pending: OutgoingMessage[] = [];
  let head = 0;
  for (const record of records) {
    const behind = order.behind(record.time);
    if (behind) throw new InvalidInputError(`transaction ${record.id}: ${contract.declaration.time.column} ${order.rule(behind)}`);
    while (head < pending.length && pending[head].time <= record.time) yield pending[head++];
    if (head > 4096 && head * 2 > pending.length) {
      pending.splice(0, head);
      head = 0;
    }
    yield {
      stream: 'transactions',
      key: record.customer,
      value: JSON.stringify(contract.transactionMessage(record, ids)),
      time: record.time,
    };
    if (record.label !== undefined) {
      const label = JSON.stringify(contract.labelMessage(record, ids));
      pending.push({ stream: 'labels', key: record.customer, value: label, time: record.time + delay });
    }
  }
  while (head < pending.length) yield pending[head++];
}

export interface Pacing {
  /** Event-time seconds per real second; undefined: no time pacing. */
  speedup?: number;
  /** At most this many messages per real second; undefined: no limit. */
  rate?: number;
}

/** Milliseconds to wait before the `index`-th message (event `time`) may go out. */
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
