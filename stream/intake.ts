// The scorer's intake: messages of every partition of the transactions and labels topics, released in the order
// batch features assume. Pure bookkeeping, no I/O: the scorer stages what Kafka delivers and asks for high-water marks.
//
// Why an ordering step: transactions are keyed by customer, so one terminal's transactions are spread over all
// partitions, and a partition read ahead of the others would feed its terminals out of time order. Labels travel
// on their own topic, and a transaction may be scored only once every label published before it has been applied.
//
// The rule: the producer publishes about in time order (event time, then transaction id: the merge key). A target
// is taken by noting the largest key staged so far, K, then asking the broker for every partition's high-water mark.
// Once each partition has been staged up to its mark, everything published before the question is staged, so every
// label published with or before those transactions is staged and, from an in-order producer, no unseen transaction
// has a key below K: transactions up to K are released, merged across partitions by key. A partition keeps its own
// offset order, so a transaction published late stays behind its predecessors and reaches the online store late
// (records.lateness decides whether it is still scored).
import { compareIds } from '../records/ids';

export interface MergeKey {
  /** Event time, seconds since the epoch. */
  time: number;
  /** The transaction id: breaks ties as batch order (a snapshot's) does. */
  id: string;
}

export const MIN_KEY: MergeKey = { time: Number.NEGATIVE_INFINITY, id: '' };

export function compareKeys(a: MergeKey, b: MergeKey): number {
  return a.time - b.time || compareIds(a.id, b.id);
}

/** "topic:partition", as offsets are named in commits and in the online store. */
export const positionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export interface StagedItem<T> {
  offset: number;
  /** The merge key; undefined for a message without one (malformed): it stays after its predecessor. */
  key?: MergeKey;
  value: T;
}

export interface IntakeEntry<T> {
  topic: string;
  partition: number;
  offset: number;
  key: MergeKey;
  value: T;
}

export interface IntakeWork<Tx, Label> {
  /** Labels go first: applying a label early is harmless, late is not. */
  labels: IntakeEntry<Label>[];
  /** Transactions in merge order. */
  transactions: IntakeEntry<Tx>[];
  /** "topic:partition" → next offset, for the partitions this work advances. */
  positions: Map<string, number>;
}

class PartitionQueue<T> {
  entries: IntakeEntry<T>[] = [];
  head = 0;
  lastKey: MergeKey = MIN_KEY;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The next offset expected from Kafka. */
    public position: number,
  ) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Appends a message unless its offset was staged already; returns the new entry. */
  append({ offset, key, value }: StagedItem<T>): IntakeEntry<T> | undefined {
    if (offset < this.position) return undefined;
    const entry = { topic: this.topic, partition: this.partition, offset, key: key ?? this.lastKey, value };
    this.entries.push(entry);
    this.position = offset + 1;
    this.lastKey = entry.key;
    return entry;
  }

  peek(): IntakeEntry<T> | undefined {
    return this.entries[this.head];
  }

  shift(): IntakeEntry<T> {
    const entry = this.entries[this.head++];
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}

export class StreamIntake<Tx, Label> {
  private readonly transactionQueues = new Map<number, PartitionQueue<Tx>>();
  private readonly labelQueues = new Map<number, PartitionQueue<Label>>();
  /** Transactions with a key up to this one may be released. */
  private bound: MergeKey = MIN_KEY;
  private maxStaged: MergeKey = MIN_KEY;
  private target: { key: MergeKey; highWatermarks: Map<string, number> } | undefined;

  /** `starts`: "topic:partition" → first offset to read, for every assigned partition of both topics. */
  constructor(
    readonly topics: { transactions: string; labels: string },
    starts: ReadonlyMap<string, number>,
  ) {
    for (const [position, offset] of starts) {
      const split = position.lastIndexOf(':');
      const [topic, partition] = [position.slice(0, split), Number(position.slice(split + 1))];
      if (topic === topics.transactions) this.transactionQueues.set(partition, new PartitionQueue(topic, partition, offset));
      else if (topic === topics.labels) this.labelQueues.set(partition, new PartitionQueue(topic, partition, offset));
      else throw new RangeError(`${position} is neither the transactions topic nor the labels topic`);
    }
  }

  /** Transactions staged and not yet released. */
  get bufferedTransactions(): number {
    let total = 0;
    for (const queue of this.transactionQueues.values()) total += queue.size;
    return total;
  }

  /** The next offset expected per partition. */
  positions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const queue of this.queues()) out.set(positionKey(queue.topic, queue.partition), queue.position);
    return out;
  }

  /** Stages transactions of one partition in offset order; offsets already staged (a redelivery) are skipped. */
  stageTransactions(partition: number, items: StagedItem<Tx>[]): void {
    const queue = this.queue(this.transactionQueues, this.topics.transactions, partition);
    for (const item of items) {
      const entry = queue.append(item);
      if (entry && compareKeys(entry.key, this.maxStaged) > 0) this.maxStaged = entry.key;
    }
    this.checkTarget();
  }

  /** Stages labels of one partition in offset order (their key is irrelevant). */
  stageLabels(partition: number, items: StagedItem<Label>[]): void {
    const queue = this.queue(this.labelQueues, this.topics.labels, partition);
    for (const item of items) queue.append(item);
    this.checkTarget();
  }

  /**
   * Moves a partition's position past records Kafka delivered but filtered out (transaction markers), so that a
   * target counting them can be reached.
   */
  skipTo(topic: string, partition: number, nextOffset: number): void {
    const queue = topic === this.topics.transactions ? this.transactionQueues.get(partition) : this.labelQueues.get(partition);
    if (queue && nextOffset > queue.position) {
      queue.position = nextOffset;
      this.checkTarget();
    }
  }

  private queue<T>(queues: Map<number, PartitionQueue<T>>, topic: string, partition: number): PartitionQueue<T> {
    const queue = queues.get(partition);
    if (!queue) throw new RangeError(`${positionKey(topic, partition)} is not assigned to this intake`);
    return queue;
  }

  /**
   * True when transactions wait beyond the release bound and no target is pending: time to ask for high-water marks.
   * (A staged key above the bound was never released; it may sit before a smaller key in an out-of-order partition.)
   */
  wantsTarget(): boolean {
    return !this.target && compareKeys(this.maxStaged, this.bound) > 0;
  }

  /** Call right before asking for the high-water marks; pass its result to setTarget with them. */
  targetKey(): MergeKey {
    return this.maxStaged;
  }

  /** Records the high-water marks ("topic:partition" → offset) observed after `targetKey()`. */
  setTarget(key: MergeKey, highWatermarks: ReadonlyMap<string, number>): void {
    const assigned = new Map<string, number>();
    for (const queue of this.queues()) {
      const position = positionKey(queue.topic, queue.partition);
      const mark = highWatermarks.get(position);
      if (mark !== undefined) assigned.set(position, mark);
    }
    this.target = { key, highWatermarks: assigned };
    this.checkTarget();
  }

  /** True when some work can be taken now. */
  hasWork(): boolean {
    for (const queue of this.labelQueues.values()) if (queue.size) return true;
    for (const queue of this.transactionQueues.values()) {
      const head = queue.peek();
      if (head && compareKeys(head.key, this.bound) <= 0) return true;
    }
    return false;
  }

  /**
   * Takes the staged labels (up to `max`) and, when that leaves no label waiting, up to `max` released transactions
   * in merge order: they are applied in that order, so every label staged before a transaction precedes it.
   */
  take(max: number): IntakeWork<Tx, Label> {
    const positions = new Map<string, number>();
    const labels: IntakeEntry<Label>[] = [];
    for (const queue of this.labelQueues.values()) {
      while (queue.size && labels.length < max) {
        const entry = queue.shift();
        labels.push(entry);
        positions.set(positionKey(entry.topic, entry.partition), entry.offset + 1);
      }
    }
    for (const queue of this.labelQueues.values()) if (queue.size) return { labels, transactions: [], positions };
    const transactions: IntakeEntry<Tx>[] = [];
    const queues = [...this.transactionQueues.values()];
    while (transactions.length < max) {
      let next: PartitionQueue<Tx> | undefined;
      for (const queue of queues) {
        const head = queue.peek();
        if (!head || compareKeys(head.key, this.bound) > 0) continue;
        if (!next || compareKeys(head.key, next.peek()?.key ?? MIN_KEY) < 0) next = queue;
      }
      if (!next) break;
      const entry = next.shift();
      transactions.push(entry);
      positions.set(positionKey(entry.topic, entry.partition), entry.offset + 1);
    }
    return { labels, transactions, positions };
  }

  private *queues(): Iterable<PartitionQueue<Tx> | PartitionQueue<Label>> {
    yield* this.transactionQueues.values();
    yield* this.labelQueues.values();
  }

  private checkTarget(): void {
    const target = this.target;
    if (!target) return;
    for (const queue of this.queues()) {
      const mark = target.highWatermarks.get(positionKey(queue.topic, queue.partition));
      if (mark !== undefined && queue.position < mark) return;
    }
    if (compareKeys(target.key, this.bound) > 0) this.bound = target.key;
    this.target = undefined;
  }
}
