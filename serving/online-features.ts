// The online feature store: the customer and terminal windows of ml/features.ts kept in Redis, so the stream scorer
// and the API compute exactly the features the model was trained on, and the state outlives any process.
//
// Keys under the prefix (one record per entity, read and written whole: per batch, at most two round trips to read
// and one MULTI to write):
//   c:<customerId>  CustomerState.encode() as raw float64s (little-endian on x86 and ARM)
//   t:<terminalId>  TerminalState.encode(): its float64s, then the entries' transaction ids (UTF-8, one per line)
//                   unless they are canonical whole numbers, which are a column of the float64s
//   pending         hash txId → "<terminalId>:<entry index>": where the label of an observed transaction goes;
//                   an id leaves when its label arrives or when its terminal no longer needs the entry
//   early:<txId>    a label that arrived before its transaction was observed (it is applied right after the
//                   transaction, as batch does); expires after earlyLabelTtlSeconds if the transaction never comes
//   offsets         hash "<topic>:<partition>" → the next input offset the state reflects, written with the state
//                   in one MULTI, so a replayed message is recognised and never counted twice
//
// Ids are the record contract's strings (pseudonyms where the declaration says so): a raw card number never gets here.
//
// Event time: a transaction older than its card's or terminal's latest by at most `latenessSeconds` is scored with
// the state as it stands and recorded at that latest time (so every window stays in time order); its calendar
// features keep its own time, and `late` reports by how much it was late. An older one, or one more than
// `maxFutureSeconds` past the wall clock, is refused: one bad event never moves a card's or a terminal's state.
//
// The single writer of a prefix (the stream scorer) may keep the entities in memory (cacheEntities): it then reads
// Redis only for entities it has not seen, and writes every changed entity at each commit (write-through).
import type { Redis } from '../clients/redis';
import { InvalidInputError } from '../ml/errors';
import {
  CustomerState,
  calendarFeatures,
  DAY_SECONDS,
  FEATURE_COUNT,
  type FeatureInput,
  observeTransaction,
  TerminalState,
  terminalRecordLayout,
  validateFeatureInput,
} from '../ml/features';
import type { TxRecord } from '../records';

export interface LabelEvent {
  transactionId: string;
  fraud: 0 | 1;
}

/** What the feature code needs of a transaction read by the record contract. */
export function featureInputOf(record: Pick<TxRecord, 'id' | 'time' | 'customer' | 'terminal' | 'amount'>): FeatureInput {
  return {
    transactionId: record.id,
    timestamp: record.time,
    customerId: record.customer,
    terminalId: record.terminal,
    amount: record.amount,
  };
}

/**
 * The rule a transaction without features broke: a field the feature code refuses, its event time more than
 * records.lateness before its card's or terminal's latest, or more than records.maxFuture past the wall clock.
 */
export type Refusal = 'input' | 'lateness' | 'maxFuture';

export interface OnlineFeatureOptions {
  labelDelayDays: number;
  /** Key prefix; 'fraudops:features:' by default. Tests use a unique one. */
  prefix?: string;
  /** How long a label waits for its transaction (real seconds); 2 days by default. */
  earlyLabelTtlSeconds?: number;
  /**
   * Entities kept in memory between updates, least recently used dropped first (0, the default: none). Only for
   * the one process that writes this prefix: another writer's changes would not be seen.
   */
  cacheEntities?: number;
  /** How far (event seconds) a transaction may be older than its card's or terminal's latest (0 by default). */
  latenessSeconds?: number;
  /** How far past the wall clock an event time may be (unbounded by default). */
  maxFutureSeconds?: number;
  /** The wall clock, seconds since the epoch (tests set it). */
  now?: () => number;
}

/** Features computed from a consistent read of the state, and the state change they imply (not yet written). */
export interface PreparedUpdate {
  /** rows × FEATURE_COUNT, row-major; a rejected row is NaN. */
  features: Float64Array;
  /** Row → why it has no features (only when prepared with skipInvalid; otherwise prepare throws). */
  rejected: Map<number, string>;
  /** Row → the rule behind its entry in `rejected`. */
  rejectedBy: Map<number, Refusal>;
  /** Row → seconds it was older than its card's or terminal's latest transaction (only rows that were late). */
  late: Map<number, number>;
  /** Labels applied to an observed transaction (including one observed in this update). */
  labelled: number;
  /** Labels kept until their transaction is observed. */
  early: number;
  /**
   * Writes the state change in one MULTI, with the input positions it reflects ("topic:partition" → next offset).
   * The records are encoded before it returns, so the next update may be prepared while the write is in flight;
   * writes reach Redis in commit order.
   */
  commit(offsets?: ReadonlyMap<string, number>): Promise<void>;
}

const DEFAULT_PREFIX = 'fraudops:features:';
/** SET KEYS[i] ARGV[i] EX ARGV[#KEYS + 1], for every key: many expiring keys in one command. */
const SET_WITH_TTL = "for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i], 'EX', ARGV[#KEYS + 1]) end";
const DEFAULT_EARLY_LABEL_TTL_SECONDS = 2 * DAY_SECONDS;

export class OnlineFeatureStore {
  private readonly prefix: string;
  private readonly delaySeconds: number;
  private readonly earlyTtl: number;
  private readonly cache: EntityCache | undefined;
  private readonly lateness: number;
  private readonly maxFuture: number;
  private readonly now: () => number;
  /** With a cache, an update changes the cached entities in place: it must be committed before the next one. */
  private uncommitted = false;

  constructor(
    private readonly redis: Redis,
    options: OnlineFeatureOptions,
  ) {
    if (!(options.labelDelayDays >= 0)) throw new InvalidInputError(`labelDelayDays must be >= 0, got ${options.labelDelayDays}`);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.delaySeconds = options.labelDelayDays * DAY_SECONDS;
    this.earlyTtl = options.earlyLabelTtlSeconds ?? DEFAULT_EARLY_LABEL_TTL_SECONDS;
    if (options.cacheEntities) this.cache = new EntityCache(options.cacheEntities);
    this.lateness = options.latenessSeconds ?? 0;
    this.maxFuture = options.maxFutureSeconds ?? Number.POSITIVE_INFINITY;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  get labelDelayDays(): number {
    return this.delaySeconds / DAY_SECONDS;
  }

  /** Features of each transaction from the state before it (and itself, as batch does); records them. Time order per entity. */
  async observe(txs: FeatureInput[]): Promise<Float64Array> {
    const update = await this.prepare(txs, []);
    await update.commit();
    return update.features;
  }

  /** The features `observe` would give, leaving the state unchanged (read from Redis, never from the cache). */
  async peek(txs: FeatureInput[]): Promise<Float64Array> {
    return (await this.prepare(txs, [], { readOnly: true })).features;
  }

  /** Records labels; returns how many reached an observed transaction (the others wait for theirs). */
  async label(labels: LabelEvent[]): Promise<number> {
    const update = await this.prepare([], labels);
    await update.commit();
    return update.labelled;
  }

  /** The input positions the stored state reflects ("topic:partition" → next offset). */
  async appliedOffsets(): Promise<Map<string, number>> {
    const stored = await this.redis.hgetall(this.key('offsets'));
    return new Map(Object.entries(stored).map(([position, offset]) => [position, Number(offset)]));
  }

  /**
   * Labels first (they were published before the transactions that need them), then the transactions in order.
   * Reads the state in at most two round trips; nothing is written until `commit`. With skipInvalid, a transaction
   * that cannot have features (bad field, or older than its customer's or terminal's latest) is reported in
   * `rejected` instead of failing the whole update. A readOnly update works on copies and cannot be committed.
   */
  async prepare(
    txs: FeatureInput[],
    labels: LabelEvent[],
    options: { skipInvalid?: boolean; readOnly?: boolean } = {},
  ): Promise<PreparedUpdate> {
    const cache = options.readOnly ? undefined : this.cache;
    if (cache) {
      if (this.uncommitted) throw new Error('the previous update of this store is not committed yet');
      this.uncommitted = true;
    }
    let state: LoadedState;
    try {
      state = await this.read(txs, labels, cache);
    } catch (err) {
      this.uncommitted = false;
      throw err;
    }
    let result: ReturnType<OnlineFeatureStore['apply']>;
    try {
      result = this.apply(state, txs, labels, options.skipInvalid ?? false);
    } catch (err) {
      if (cache) {
        // Cached entities may be half updated: forget them (Redis has their last committed state).
        for (const id of state.customers.keys()) cache.delete(`c:${id}`);
        for (const id of state.terminals.keys()) cache.delete(`t:${id}`);
        this.uncommitted = false;
      }
      throw err;
    }
    return {
      ...result,
      early: state.newEarly.size,
      commit: (offsets) => {
        if (options.readOnly) throw new Error('a read-only update cannot be committed');
        return this.write(state, offsets, cache);
      },
    };
  }

  /** Applies labels, then transactions, to the loaded entities. */
  private apply(state: LoadedState, txs: FeatureInput[], labels: LabelEvent[], skipInvalid: boolean) {
    const features = new Float64Array(txs.length * FEATURE_COUNT);
    const rejected = new Map<number, string>();
    const rejectedBy = new Map<number, Refusal>();
    const late = new Map<number, number>();
    const now = this.now();
    let labelled = 0;

    const applyLabel = (terminalId: string, index: number, transactionId: string, fraud: 0 | 1) => {
      state.pending.set(transactionId, null);
      const terminal = state.terminals.get(terminalId);
      if (!terminal) return; // its record is gone (e.g. deleted by hand): nothing left to label
      terminal.setLabel(index, fraud);
      state.dirtyTerminals.add(terminalId);
      labelled += 1;
    };

    for (const { transactionId, fraud } of labels) {
      const location = state.storedPending.get(transactionId);
      if (location) applyLabel(location.terminalId, location.index, transactionId, fraud);
      else state.newEarly.set(transactionId, fraud);
    }

    txs.forEach((tx, row) => {
      const checked = this.timeOf(tx, state, now);
      if (typeof checked !== 'number') {
        if (!skipInvalid) throw new InvalidInputError(checked.reason);
        rejected.set(row, checked.reason);
        rejectedBy.set(row, checked.rule);
        features.fill(Number.NaN, row * FEATURE_COUNT, (row + 1) * FEATURE_COUNT);
        return;
      }
      const terminal = state.terminal(tx.terminalId);
      const at = checked > tx.timestamp ? { ...tx, timestamp: checked } : tx;
      const { index, dropped } = observeTransaction(at, state.customer(tx.customerId), terminal, features, row * FEATURE_COUNT);
      if (at !== tx) {
        late.set(row, checked - tx.timestamp);
        calendarFeatures(tx.timestamp, features, row * FEATURE_COUNT);
      }
      state.dirtyCustomers.add(tx.customerId);
      state.dirtyTerminals.add(tx.terminalId);
      for (const id of dropped) state.pending.set(id, null);
      state.pending.set(tx.transactionId, { terminalId: tx.terminalId, index });
      const early = state.newEarly.get(tx.transactionId) ?? state.storedEarly.get(tx.transactionId);
      if (early !== undefined) {
        applyLabel(tx.terminalId, index, tx.transactionId, early);
        state.newEarly.delete(tx.transactionId);
        if (state.storedEarly.delete(tx.transactionId)) state.consumedEarly.add(tx.transactionId);
      }
    });
    return { features, rejected, rejectedBy, late, labelled };
  }

  /** The event time the windows record the transaction at (its own, or its entities' latest when late), or why none. */
  private timeOf(tx: FeatureInput, state: LoadedState, now: number): number | { rule: Refusal; reason: string } {
    try {
      validateFeatureInput(tx);
    } catch (err) {
      return { rule: 'input', reason: (err as Error).message };
    }
    if (tx.timestamp > now + this.maxFuture) {
      const reason = `transaction ${tx.transactionId}: its time is ${Math.round(tx.timestamp - now)} s past the wall clock, more than records.maxFuture (${this.maxFuture} s)`;
      return { rule: 'maxFuture', reason };
    }
    const customer = state.customer(tx.customerId).lastTime;
    const terminal = state.terminal(tx.terminalId).lastTime;
    const latest = Math.max(customer, terminal);
    if (tx.timestamp >= latest) return tx.timestamp;
    if (latest - tx.timestamp <= this.lateness) return latest;
    const entity = customer >= terminal ? 'card' : 'terminal';
    const reason = `transaction ${tx.transactionId}: it is ${latest - tx.timestamp} s older than its ${entity}'s latest transaction, more than records.lateness (${this.lateness} s)`;
    return { rule: 'lateness', reason };
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  private async read(txs: FeatureInput[], labels: LabelEvent[], cache: EntityCache | undefined): Promise<LoadedState> {
    const state = new LoadedState(this.delaySeconds);
    const cached = <T>(kind: 'c' | 't', ids: string[], into: Map<string, T>): string[] =>
      ids.filter((id) => {
        const entity = cache?.get(`${kind}:${id}`) as T | undefined;
        if (entity) into.set(id, entity);
        return !entity;
      });
    const customerIds = cached('c', unique(txs.map((tx) => tx.customerId).filter(Boolean)), state.customers);
    const terminalIds = cached('t', unique(txs.map((tx) => tx.terminalId).filter(Boolean)), state.terminals);
    const labelIds = labels.map((l) => l.transactionId);
    const txIds = txs.map((tx) => tx.transactionId);

    const pipeline = this.redis.pipeline();
    if (customerIds.length) pipeline.mgetBuffer(customerIds.map((id) => this.key(`c:${id}`)));
    if (terminalIds.length) pipeline.mgetBuffer(terminalIds.map((id) => this.key(`t:${id}`)));
    if (labelIds.length) pipeline.hmget(this.key('pending'), ...labelIds.map(String));
    if (txIds.length) pipeline.mget(txIds.map((id) => this.key(`early:${id}`)));
    const results = (await pipeline.exec()) ?? [];
    let next = 0;
    const reply = <T>(): T => {
      const [err, value] = results[next++];
      if (err) throw err;
      return value as T;
    };

    if (customerIds.length) {
      reply<(Buffer | null)[]>().forEach((record, i) => {
        if (record) state.customers.set(customerIds[i], CustomerState.decode(toFloat64(record)));
      });
    }
    if (terminalIds.length) {
      reply<(Buffer | null)[]>().forEach((record, i) => {
        if (record) state.terminals.set(terminalIds[i], decodeTerminal(record, this.delaySeconds));
      });
    }
    if (labelIds.length) {
      reply<(string | null)[]>().forEach((location, i) => {
        if (!location) return;
        const colon = location.lastIndexOf(':');
        state.storedPending.set(labelIds[i], { terminalId: location.slice(0, colon), index: Number(location.slice(colon + 1)) });
      });
    }
    if (txIds.length) {
      reply<(string | null)[]>().forEach((fraud, i) => {
        if (fraud !== null) state.storedEarly.set(txIds[i], fraud === '1' ? 1 : 0);
      });
    }

    // The terminals of labelled transactions that no transaction of this batch touches: a second round trip.
    const labelTerminals = unique([...state.storedPending.values()].map((l) => l.terminalId).filter((id) => !state.terminals.has(id)));
    const missing = cached('t', labelTerminals, state.terminals);
    if (missing.length) {
      const records = await this.redis.mgetBuffer(missing.map((id) => this.key(`t:${id}`)));
      records.forEach((record, i) => {
        if (record) state.terminals.set(missing[i], decodeTerminal(record, this.delaySeconds));
      });
    }
    return state;
  }

  private async write(state: LoadedState, offsets: ReadonlyMap<string, number> | undefined, cache: EntityCache | undefined): Promise<void> {
    if (cache) {
      this.uncommitted = false;
      for (const [id, customer] of state.customers) cache.set(`c:${id}`, customer);
      for (const [id, terminal] of state.terminals) cache.set(`t:${id}`, terminal);
      cache.trim();
    }
    // Few commands, whatever the batch size: one MSET, one HSET, one HDEL, one script for the expiring labels.
    const records: (string | Buffer)[] = [];
    for (const id of state.dirtyCustomers) records.push(this.key(`c:${id}`), toBuffer(state.customer(id).encode()));
    for (const id of state.dirtyTerminals) {
      const { record, ids, dropped } = state.terminal(id).encode();
      records.push(this.key(`t:${id}`), terminalBytes(record, ids));
      for (const txId of dropped) state.pending.set(txId, null);
    }
    const added: string[] = [];
    const removed: string[] = [];
    for (const [txId, location] of state.pending) {
      if (location) added.push(String(txId), `${location.terminalId}:${location.index}`);
      else removed.push(String(txId));
    }
    const multi = this.redis.multi();
    if (records.length) multi.mset(records);
    if (added.length) multi.hset(this.key('pending'), added);
    if (removed.length) multi.hdel(this.key('pending'), ...removed);
    if (state.newEarly.size) {
      const keys = [...state.newEarly.keys()].map((id) => this.key(`early:${id}`));
      multi.eval(SET_WITH_TTL, keys.length, ...keys, ...[...state.newEarly.values()].map(String), this.earlyTtl);
    }
    if (state.consumedEarly.size) multi.del(...[...state.consumedEarly].map((id) => this.key(`early:${id}`)));
    if (offsets?.size) multi.hset(this.key('offsets'), Object.fromEntries(offsets));
    if (multi.length) await multi.exec();
  }
}

interface EntryLocation {
  terminalId: string;
  index: number;
}

/** Entities by "c:<id>" / "t:<id>", least recently used first (a Map iterates in insertion order). */
class EntityCache {
  private readonly entries = new Map<string, CustomerState | TerminalState>();

  constructor(private readonly capacity: number) {}

  get(key: string): CustomerState | TerminalState | undefined {
    return this.entries.get(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Stores or refreshes an entity as the most recently used. */
  set(key: string, entity: CustomerState | TerminalState): void {
    this.entries.delete(key);
    this.entries.set(key, entity);
  }

  trim(): void {
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(key);
    }
  }
}

/** The entities one update reads and changes. */
class LoadedState {
  readonly customers = new Map<string, CustomerState>();
  readonly terminals = new Map<string, TerminalState>();
  readonly dirtyCustomers = new Set<string>();
  readonly dirtyTerminals = new Set<string>();
  /** Label locations as stored before this update. */
  readonly storedPending = new Map<string, EntryLocation>();
  /** Changes to the pending hash: a location to add, or null to remove. */
  readonly pending = new Map<string, EntryLocation | null>();
  /** Labels waiting for their transaction: stored ones this update's transactions may consume, and new ones to store. */
  readonly storedEarly = new Map<string, 0 | 1>();
  readonly newEarly = new Map<string, 0 | 1>();
  readonly consumedEarly = new Set<string>();

  constructor(private readonly delaySeconds: number) {}

  customer(id: string): CustomerState {
    let state = this.customers.get(id);
    if (!state) {
      state = new CustomerState();
      this.customers.set(id, state);
    }
    return state;
  }

  terminal(id: string): TerminalState {
    let state = this.terminals.get(id);
    if (!state) {
      state = new TerminalState(this.delaySeconds);
      this.terminals.set(id, state);
    }
    return state;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** A stored record as float64s (copied: a Redis reply buffer need not be 8-byte aligned). */
function toFloat64(record: Buffer, floats = record.length / 8): Float64Array {
  const out = new Float64Array(floats);
  new Uint8Array(out.buffer).set(record.subarray(0, floats * 8));
  return out;
}

/** A terminal's stored bytes: its float64s, then (unless they are among the floats) its ids as UTF-8 lines. */
function terminalBytes(record: Float64Array, ids: string[] | null): Buffer {
  if (!ids) return toBuffer(record);
  const text = ids.join('\n');
  const floats = record.byteLength;
  const out = Buffer.allocUnsafe(floats + Buffer.byteLength(text, 'utf8'));
  out.set(new Uint8Array(record.buffer, record.byteOffset, floats));
  out.write(text, floats, 'utf8');
  return out;
}

/** A stored terminal (see terminalRecordLayout): its float64s, then its ids as text when they are not among them. */
function decodeTerminal(record: Buffer, delaySeconds: number): TerminalState {
  const { floats, textIds } = terminalRecordLayout(toFloat64(record, 4));
  const text = textIds ? record.toString('utf8', floats * 8) : '';
  return TerminalState.decode(toFloat64(record, floats), textIds ? (text ? text.split('\n') : []) : null, delaySeconds);
}

function toBuffer(record: Float64Array): Buffer {
  return Buffer.from(record.buffer, record.byteOffset, record.byteLength);
}
