// Builds a snapshot from the messages of a bounded read. Every message has a fixed slot given by its
// (topic, partition, offset), so the result depends only on which offsets were read, never on the order
// in which fetches arrived or on a message delivered twice.
import { checkLabel, checkTransaction, type FieldProblem, parseTxDatetime } from '../simulator';
import {
  emptyColumns,
  type PartitionSlice,
  type RejectedMessage,
  type SnapshotColumns,
  type SnapshotContent,
  setUnlabelledRow,
  type TopicSlice,
  unlabelledRecord,
} from './snapshot';

type Raw = Buffer | string | null;

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

export class SnapshotBuilder {
  private readonly transactions: SlotMap;
  private readonly labels: SlotMap;
  private readonly txState: Uint8Array;
  private readonly labelState: Uint8Array;
  private readonly tx: SnapshotColumns;
  private readonly label: { id: Float64Array; fraud: Int8Array; scenario: Int8Array };
  private readonly rejects = new Map<string, RejectedMessage>();
  private filled = 0;

  constructor(sources: { transactions: TopicSlice; labels: TopicSlice }) {
    this.transactions = new SlotMap(sources.transactions);
    this.labels = new SlotMap(sources.labels);
    this.txState = new Uint8Array(this.transactions.size);
    this.labelState = new Uint8Array(this.labels.size);
    this.tx = emptyColumns(this.transactions.size);
    this.label = {
      id: new Float64Array(this.labels.size),
      fraud: new Int8Array(this.labels.size),
      scenario: new Int8Array(this.labels.size),
    };
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

  /** Records one transaction message; returns false when it is outside the range or already seen. */
  addTransaction(partition: number, offset: number, key: Raw, value: Raw): boolean {
    const slot = this.transactions.slot(partition, offset);
    if (slot < 0 || this.txState[slot] !== EMPTY) return false;
    this.filled += 1;
    const parsed = parse(value);
    const checked = parsed.ok ? checkTransaction(parsed.value, 'absent') : undefined;
    if (!checked?.record) {
      this.txState[slot] = REJECTED;
      this.reject(this.transactions.slice.topic, partition, offset, key, value, parsed.ok ? 'schema' : parsed.reason, checked?.problems);
      return true;
    }
    this.txState[slot] = ACCEPTED;
    setUnlabelledRow(this.tx, slot, checked.record, parseTxDatetime(checked.record.TX_DATETIME));
    return true;
  }

  /** Records one label message; returns false when it is outside the range or already seen. */
  addLabel(partition: number, offset: number, key: Raw, value: Raw): boolean {
    const slot = this.labels.slot(partition, offset);
    if (slot < 0 || this.labelState[slot] !== EMPTY) return false;
    this.filled += 1;
    const parsed = parse(value);
    const checked = parsed.ok ? checkLabel(parsed.value) : undefined;
    if (!checked?.label) {
      this.labelState[slot] = REJECTED;
      this.reject(this.labels.slice.topic, partition, offset, key, value, parsed.ok ? 'label-schema' : parsed.reason, checked?.problems);
      return true;
    }
    this.labelState[slot] = ACCEPTED;
    this.label.id[slot] = checked.label.TRANSACTION_ID;
    this.label.fraud[slot] = checked.label.TX_FRAUD;
    this.label.scenario[slot] = checked.label.TX_FRAUD_SCENARIO;
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
   * The snapshot: duplicated TRANSACTION_IDs after the first (in partition, offset order) are rejected,
   * labels are joined (the last label of a transaction wins), rows sorted by time then id.
   */
  build(): { columns: SnapshotColumns; rejects: RejectedMessage[]; content: Omit<SnapshotContent, 'files' | 'format' | 'schema'> } {
    if (!this.complete) throw new Error(`snapshot incomplete: ${this.missing().join('; ')}`);
    const firstSlot = new Map<number, number>();
    const accepted: number[] = [];
    for (let slot = 0; slot < this.txState.length; slot++) {
      if (this.txState[slot] !== ACCEPTED) continue;
      const id = this.tx.transactionId[slot];
      const first = firstSlot.get(id);
      if (first !== undefined) {
        const { partition, offset } = this.transactions.position(slot);
        const original = this.transactions.position(first);
        const topic = this.transactions.slice.topic;
        this.reject(topic, partition, offset, null, this.recordJson(slot), 'duplicate-transaction-id', [
          { field: 'TRANSACTION_ID', rule: `${id} was already read at ${topic}/${original.partition}@${original.offset}` },
        ]);
        continue;
      }
      firstSlot.set(id, slot);
      accepted.push(slot);
    }

    const labelOf = new Map<number, number>();
    let labelUpdates = 0;
    for (let slot = 0; slot < this.labelState.length; slot++) {
      if (this.labelState[slot] !== ACCEPTED) continue;
      if (labelOf.has(this.label.id[slot])) labelUpdates += 1;
      labelOf.set(this.label.id[slot], slot);
    }

    const t = this.tx;
    accepted.sort((a, b) => t.timestamp[a] - t.timestamp[b] || t.transactionId[a] - t.transactionId[b]);
    const columns = emptyColumns(accepted.length);
    let labelled = 0;
    let frauds = 0;
    accepted.forEach((slot, row) => {
      columns.transactionId[row] = t.transactionId[slot];
      columns.datetime[row] = t.datetime[slot];
      columns.timestamp[row] = t.timestamp[slot];
      columns.customerId[row] = t.customerId[slot];
      columns.terminalId[row] = t.terminalId[slot];
      columns.amount[row] = t.amount[slot];
      columns.timeSeconds[row] = t.timeSeconds[slot];
      columns.timeDays[row] = t.timeDays[slot];
      const labelSlot = labelOf.get(t.transactionId[slot]);
      if (labelSlot === undefined) {
        columns.fraud[row] = -1;
        columns.scenario[row] = -1;
        return;
      }
      labelOf.delete(t.transactionId[slot]);
      columns.fraud[row] = this.label.fraud[labelSlot];
      columns.scenario[row] = this.label.scenario[labelSlot];
      labelled += 1;
      frauds += columns.fraud[row];
    });

    const rejects = [...this.rejects.values()].sort(
      (a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0) || a.partition - b.partition || a.offset - b.offset,
    );
    const byReason: Record<string, number> = {};
    for (const r of rejects) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
    return {
      columns,
      rejects,
      content: {
        sources: { transactions: this.transactions.slice, labels: this.labels.slice },
        rows: columns.rows,
        labelled,
        labelCoverage: columns.rows ? labelled / columns.rows : 0,
        frauds,
        timeRange: { first: columns.datetime[0] ?? null, last: columns.datetime[columns.rows - 1] ?? null },
        rejected: { total: rejects.length, byReason },
        orphanLabels: labelOf.size,
        labelUpdates,
      },
    };
  }

  /** The transaction of a slot as JSON (the fields read, in schema order): what a duplicate said. */
  private recordJson(slot: number): string {
    return JSON.stringify(unlabelledRecord(this.tx, slot));
  }

  private reject(topic: string, partition: number, offset: number, key: Raw, value: Raw, reason: string, problems?: FieldProblem[]): void {
    const id = `${topic}/${partition}/${offset}`;
    const previous = this.rejects.get(id);
    this.rejects.set(id, {
      topic,
      partition,
      offset,
      reason,
      ...(problems?.length ? { problems } : {}),
      key: previous?.key ?? text(key),
      value: previous?.value ?? text(value),
    });
  }
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
