// Builds a snapshot from the messages of a bounded read. Every message has a fixed slot given by its
// (topic, partition, offset), so the result depends only on which offsets were read, never on the order
// in which fetches arrived or on a message delivered twice. Messages are read by the record contract; a
// rejected one is kept scrubbed (no dropped column, pseudonyms for the declared roles), never as it came.
import { compareIds, type FieldProblem, type RecordContract, type Scalar } from '../records';
import {
  copyRow,
  emptyColumns,
  emptyLabels,
  extraColumnsOf,
  joinLabels,
  type LabelColumns,
  type PartitionSlice,
  type RejectedMessage,
  recordAt,
  rowCounts,
  type SnapshotColumns,
  type SnapshotContent,
  setRow,
  type TopicSlice,
} from './snapshot';

type Raw = Buffer | string | null;
/** The key and value a reject keeps. */
type Kept = { key: string | null; value: string | null };

const EMPTY = 0;
const ACCEPTED = 1;
const REJECTED = 2;

/** Offsets [from, to) of each partition mapped onto one array of slots. */
class SlotMap {
  readonly base = new Map<number, PartitionSlice & { start: number }>();
  readonly size: number;

  constructor(readonly slice: TopicSlice) {
    let start = 0;
    for (const p of slice.partitions) {
      this.base.set(p.partition, { ...p, start });
      start += Math.max(0, p.to - p.from);
    }
    this.size = start;
  }

  /** The slot of an offset, or -1 when it is outside the read range. */
  slot(partition: number, offset: number): number {
    const p = this.base.get(partition);
    if (!p || offset < p.from || offset >= p.to) return -1;
    return p.start + offset - p.from;
  }

  /** (partition, offset) of a slot. */
  position(slot: number): { partition: number; offset: number } {
    for (const p of this.base.values()) {
      if (slot < p.start + p.to - p.from) return { partition: p.partition, offset: p.from + slot - p.start };
    }
    throw new RangeError(`slot ${slot} out of range`);
  }
}

const text = (raw: Raw): string | null => (raw === null ? null : typeof raw === 'string' ? raw : raw.toString('utf8'));

/** One string per distinct id: the cards and terminals repeat on every row, a parsed message brings a fresh copy. */
class Interner {
  private readonly known = new Map<string, string>();

  of(value: string): string {
    const known = this.known.get(value);
    if (known !== undefined) return known;
    this.known.set(value, value);
    return value;
  }
}

export class SnapshotBuilder {
  private readonly transactions: SlotMap;
  private readonly labels: SlotMap;
  private readonly txState: Uint8Array;
  private readonly labelState: Uint8Array;
  // Slot storage; build() hands it over and releases it.
  private tx: SnapshotColumns;
  private label: { id: string[]; fraud: Int8Array; extras: Record<string, Scalar[]> };
  private built = false;
  private readonly rejects = new Map<string, RejectedMessage>();
  private readonly ids = new Interner();
  private filled = 0;

  constructor(
    sources: { transactions: TopicSlice; labels: TopicSlice },
    private readonly contract: RecordContract,
  ) {
    this.transactions = new SlotMap(sources.transactions);
    this.labels = new SlotMap(sources.labels);
    this.txState = new Uint8Array(this.transactions.size);
    this.labelState = new Uint8Array(this.labels.size);
    this.tx = emptyColumns(this.transactions.size, extraColumnsOf(contract.declaration));
    this.label = labelSlots(this.labels.size, contract.declaration.labelColumns);
  }

  /** Messages the read must cover. */
  get total(): number {
    return this.transactions.size + this.labels.size;
  }

  /** Distinct in-range messages seen so far. */
  get received(): number {
    return this.filled;
  }

  get complete(): boolean {
    return this.filled === this.total;
  }

  /**
   * Records one transaction message; returns false when it is outside the range or already seen. `admitted`: the
   * message carries fraudops' admitted header (its roles are pseudonyms already).
   */
  addTransaction(partition: number, offset: number, key: Raw, value: Raw, admitted = false): boolean {
    const slot = this.transactions.slot(partition, offset);
    if (slot < 0 || this.txState[slot] !== EMPTY) return false;
    this.filled += 1;
    const parsed = parse(value);
    const read = parsed.ok ? this.contract.readTransaction(parsed.value, { labels: 'absent', admitted }) : undefined;
    if (!read?.value) {
      this.txState[slot] = REJECTED;
      const reason = parsed.ok ? 'schema' : parsed.reason;
      this.reject(this.transactions.slice.topic, partition, offset, reason, read?.problems, this.safeCopy(key, parsed, admitted));
      return true;
    }
    this.txState[slot] = ACCEPTED;
    const record = read.value;
    record.customer = this.ids.of(record.customer);
    record.terminal = this.ids.of(record.terminal);
    setRow(this.tx, slot, record);
    return true;
  }

  /** Records one label message; returns false when it is outside the range or already seen. */
  addLabel(partition: number, offset: number, key: Raw, value: Raw, admitted = false): boolean {
    const slot = this.labels.slot(partition, offset);
    if (slot < 0 || this.labelState[slot] !== EMPTY) return false;
    this.filled += 1;
    const parsed = parse(value);
    const read = parsed.ok ? this.contract.readLabel(parsed.value, { admitted }) : undefined;
    if (!read?.value) {
      this.labelState[slot] = REJECTED;
      const reason = parsed.ok ? 'label-schema' : parsed.reason;
      this.reject(this.labels.slice.topic, partition, offset, reason, read?.problems, this.safeCopy(key, parsed, admitted));
      return true;
    }
    this.labelState[slot] = ACCEPTED;
    this.label.id[slot] = read.value.id;
    this.label.fraud[slot] = read.value.label;
    for (const name in this.label.extras) this.label.extras[name][slot] = read.value.extras[name] ?? null;
    return true;
  }

  /** Partitions not fully read yet, with how far they got: for a stall error. */
  missing(): string[] {
    const out: string[] = [];
    for (const [map, state] of [
      [this.transactions, this.txState],
      [this.labels, this.labelState],
    ] as const) {
      for (const p of map.base.values()) {
        let seen = 0;
        for (let s = p.start; s < p.start + p.to - p.from; s++) if (state[s] !== EMPTY) seen += 1;
        if (seen < p.to - p.from) out.push(`${map.slice.topic}/${p.partition}: ${seen} of offsets [${p.from}, ${p.to})`);
      }
    }
    return out;
  }

  /**
   * What was read, before the join: the accepted transactions (a transaction id read again after the first, in
   * partition, offset order, is rejected) sorted by time then id without labels, and the accepted labels in arrival
   * order. Runs once: the builder's own copy of the rows is released, so that only the parts' stay in memory.
   */
  parts(): { transactions: SnapshotColumns; labels: LabelColumns; rejects: RejectedMessage[] } {
    if (!this.complete) throw new Error(`snapshot incomplete: ${this.missing().join('; ')}`);
    if (this.built) throw new Error('parts() runs once: the builder released its rows to the first result');
    this.built = true;
    const idField = this.contract.declaration.id;
    const firstSlot = new Map<string, number>();
    const accepted: number[] = [];
    for (let slot = 0; slot < this.txState.length; slot++) {
      if (this.txState[slot] !== ACCEPTED) continue;
      const id = this.tx.transactionId[slot];
      const first = firstSlot.get(id);
      if (first !== undefined) {
        const { partition, offset } = this.transactions.position(slot);
        const original = this.transactions.position(first);
        const topic = this.transactions.slice.topic;
        this.reject(
          topic,
          partition,
          offset,
          'duplicate-transaction-id',
          [{ field: idField, rule: `${id} was already read at ${topic}/${original.partition}@${original.offset}` }],
          { key: null, value: JSON.stringify(this.contract.transactionMessage(recordAt(this.tx, slot))) },
        );
        continue;
      }
      firstSlot.set(id, slot);
      accepted.push(slot);
    }

    const t = this.tx;
    accepted.sort((a, b) => t.timestamp[a] - t.timestamp[b] || compareIds(t.transactionId[a], t.transactionId[b]));
    const transactions = emptyColumns(accepted.length, Object.keys(t.extras));
    t.fraud.fill(-1);
    accepted.forEach((slot, row) => {
      copyRow(transactions, row, t, slot);
    });

    const l = this.label;
    const slots: number[] = [];
    for (let slot = 0; slot < this.labelState.length; slot++) if (this.labelState[slot] === ACCEPTED) slots.push(slot);
    const labels = emptyLabels(slots.length, Object.keys(l.extras));
    slots.forEach((slot, row) => {
      labels.transactionId[row] = l.id[slot];
      labels.fraud[row] = l.fraud[slot];
      for (const name in l.extras) labels.extras[name][row] = l.extras[name][slot];
    });

    this.tx = emptyColumns(0);
    this.label = labelSlots(0, []);
    const rejects = [...this.rejects.values()].sort(
      (a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0) || a.partition - b.partition || a.offset - b.offset,
    );
    return { transactions, labels, rejects };
  }

  /** The snapshot: the parts with the labels joined (the last label of a transaction wins). Runs once. */
  build(): { columns: SnapshotColumns; rejects: RejectedMessage[]; content: Omit<SnapshotContent, 'files' | 'format' | 'schema'> } {
    const { transactions: columns, labels, rejects } = this.parts();
    const joined = joinLabels(columns, [labels]);
    return {
      columns,
      rejects,
      content: {
        sources: { transactions: this.transactions.slice, labels: this.labels.slice },
        ...rowCounts(columns, joined),
        rejected: countReasons(rejects),
        orphanLabels: joined.unmatched,
        labelUpdates: joined.labelUpdates,
      },
    };
  }

  /**
   * What of a rejected message is safe to keep: its value scrubbed by the contract (text that is not a JSON object:
   * nothing), and its key only when it cannot be a raw card number (an outside producer may key by one).
   */
  private safeCopy(key: Raw, parsed: ReturnType<typeof parse>, admitted: boolean): Kept {
    const scrubbed = parsed.ok ? this.contract.scrub(parsed.value, admitted) : null;
    return {
      key: admitted || !this.contract.declaration.pseudonymize.length ? text(key) : null,
      value: scrubbed === null ? null : JSON.stringify(scrubbed),
    };
  }

  private reject(topic: string, partition: number, offset: number, reason: string, problems: FieldProblem[] | undefined, kept: Kept): void {
    const id = `${topic}/${partition}/${offset}`;
    const previous = this.rejects.get(id);
    this.rejects.set(id, {
      topic,
      partition,
      offset,
      reason,
      ...(problems?.length ? { problems } : {}),
      key: previous?.key ?? kept.key,
      value: previous?.value ?? kept.value,
    });
  }
}

function labelSlots(size: number, labelColumns: readonly string[]) {
  return {
    id: new Array<string>(size),
    fraud: new Int8Array(size),
    extras: Object.fromEntries(labelColumns.map((name) => [name, new Array<Scalar>(size).fill(null)])),
  };
}

function parse(value: Raw): { ok: true; value: unknown } | { ok: false; reason: string } {
  const body = text(value);
  if (body === null || body === '') return { ok: false, reason: 'empty-message' };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch {
    return { ok: false, reason: 'invalid-json' };
  }
}

/** Rejects counted by reason. */
export function countReasons(rejects: readonly RejectedMessage[]): { total: number; byReason: Record<string, number> } {
  const byReason: Record<string, number> = {};
  for (const r of rejects) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  return { total: rejects.length, byReason };
}
