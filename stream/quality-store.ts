// The live quality monitor's state in Redis: predictions waiting for their label, labels waiting for their
// prediction, the joined rows per (version, event day, source), the prediction counts, and the input positions.
//
// Each input batch is applied in ONE MULTI/EXEC together with the position it brings its partition to, and the
// monitor starts each partition from its stored position: a batch is applied once, whatever the crashes. Rows are
// hash fields keyed by the transaction id, so a label delivered twice (a producer's retry) writes the same row again.
// One monitor per state (like the scorer per consumer group): the join reads before it writes.
import type { Redis } from '../clients/redis';
import type { Config } from '../config';
import { type JoinedRow, LABEL_SOURCES, type LabelSource, type PredictionCounts, type RowGroup } from './quality-table';

export const DEFAULT_QUALITY_PREFIX = 'fraudops:quality:';

export interface PredictionIn {
  id: string;
  version: string;
  score: number;
  flagged: boolean;
  day: string;
}

export interface LabelIn {
  id: string;
  label: 0 | 1;
  customer?: string;
  source: LabelSource;
}

export interface StoreOptions {
  prefix?: string;
  /** How long (seconds) a prediction waits for its label and a label for its prediction. */
  joinSeconds: number;
  /** How long (seconds) a day's rows and counts are kept after their last write. */
  keepSeconds: number;
}

/** Where a batch leaves its partition: `topic:partition` and the next offset to read there. */
export interface Position {
  key: string;
  next: number;
}

const SEP = '|';
const encodeRow = (row: JoinedRow) => [row.score, row.label, row.flagged ? 1 : 0, row.customer ?? ''].join(SEP);

function decodeRow(text: string): JoinedRow {
  const [score, label, flagged, customer] = text.split(SEP);
  return { score: Number(score), label: label === '1' ? 1 : 0, flagged: flagged === '1', ...(customer ? { customer } : {}) };
}

const SECONDS_PER_DAY = 86_400;

export class QualityStore {
  readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: StoreOptions,
  ) {
    this.prefix = options.prefix ?? DEFAULT_QUALITY_PREFIX;
  }

  /** The store of a config's quality: settings (quality.joinWindowDays, quality.keepDays). */
  static of(redis: Redis, config: Pick<Config, 'quality'>, prefix?: string): QualityStore {
    const { joinWindowDays, keepDays } = config.quality;
    return new QualityStore(redis, { prefix, joinSeconds: joinWindowDays * SECONDS_PER_DAY, keepSeconds: keepDays * SECONDS_PER_DAY });
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  private rowsKey(version: string, day: string, source: LabelSource): string {
    return this.key('rows', version, day, source);
  }

  /** The next offset to read per `topic:partition`, as the last applied batch left it. */
  async positions(): Promise<Map<string, number>> {
    const stored = await this.redis.hgetall(this.key('offsets'));
    return new Map(Object.entries(stored).map(([position, offset]) => [position, Number(offset)]));
  }

  /** Counts the predictions, joins those whose label waits, keeps the others waiting. Returns the versions touched. */
  async applyPredictions(predictions: readonly PredictionIn[], position: Position): Promise<Set<string>> {
    const waiting = predictions.length
      ? await this.redis.mget(predictions.flatMap((p) => LABEL_SOURCES.map((source) => this.key('label', source, p.id))))
      : [];
    const multi = this.redis.multi();
    const { joinSeconds, keepSeconds } = this.options;
    predictions.forEach((p, i) => {
      const counts = this.key('counts', p.version);
      multi.hincrby(counts, `${p.day}:p`, 1);
      if (p.flagged) multi.hincrby(counts, `${p.day}:a`, 1);
      multi.expire(counts, keepSeconds);
      multi.sadd(this.key('counted'), p.version);
      let final = false;
      LABEL_SOURCES.forEach((source, s) => {
        const label = waiting[i * LABEL_SOURCES.length + s];
        if (label === null || label === undefined) return;
        const [value, customer] = label.split(SEP);
        this.join(multi, p, source, { score: p.score, label: value === '1' ? 1 : 0, flagged: p.flagged, customer: customer || undefined });
        multi.del(this.key('label', source, p.id));
        final ||= source === 'chargeback';
      });
      // A chargeback is final: the prediction need not wait for another label then.
      if (!final) multi.set(this.key('pred', p.id), [p.version, p.score, p.flagged ? 1 : 0, p.day].join(SEP), 'EX', joinSeconds);
    });
    multi.hset(this.key('offsets'), position.key, position.next);
    await multi.exec();
    return new Set(predictions.map((p) => p.version));
  }

  /** Joins the labels whose prediction waits, keeps the others waiting. Returns the versions touched. */
  async applyLabels(labels: readonly LabelIn[], position: Position): Promise<Set<string>> {
    const waiting = labels.length ? await this.redis.mget(labels.map((l) => this.key('pred', l.id))) : [];
    const touched = new Set<string>();
    const multi = this.redis.multi();
    labels.forEach((l, i) => {
      const prediction = waiting[i];
      if (prediction === null || prediction === undefined) {
        multi.set(this.key('label', l.source, l.id), [l.label, l.customer ?? ''].join(SEP), 'EX', this.options.joinSeconds);
        return;
      }
      const [version, score, flagged, day] = prediction.split(SEP);
      const p = { id: l.id, version, score: Number(score), flagged: flagged === '1', day };
      this.join(multi, p, l.source, { score: p.score, label: l.label, flagged: p.flagged, customer: l.customer });
      if (l.source === 'chargeback') multi.del(this.key('pred', l.id));
      touched.add(version);
    });
    multi.hset(this.key('offsets'), position.key, position.next);
    await multi.exec();
    return touched;
  }

  private join(multi: ReturnType<Redis['multi']>, p: PredictionIn, source: LabelSource, row: JoinedRow): void {
    const rows = this.rowsKey(p.version, p.day, source);
    multi.hset(rows, p.id, encodeRow(row));
    multi.expire(rows, this.options.keepSeconds);
    multi.sadd(this.key('groups'), [p.version, p.day, source].join(SEP));
  }

  /** The joined rows, of the given versions only when named; groups whose rows expired are forgotten. */
  async groups(versions?: ReadonlySet<string>): Promise<RowGroup[]> {
    const members = (await this.redis.smembers(this.key('groups')))
      .map((member) => member.split(SEP))
      .filter(([version]) => !versions || versions.has(version));
    const pipeline = this.redis.pipeline();
    for (const [version, day, source] of members) pipeline.hvals(this.rowsKey(version, day, source as LabelSource));
    const values = ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value as string[];
    });
    const out: RowGroup[] = [];
    const gone: string[] = [];
    members.forEach(([version, day, source], i) => {
      if (!values[i].length) gone.push([version, day, source].join(SEP));
      else out.push({ version, day, source: source as LabelSource, rows: values[i].map(decodeRow) });
    });
    if (gone.length) await this.redis.srem(this.key('groups'), ...gone);
    return out;
  }

  /** Predictions and alerts per version and event day, of the given versions only when named. */
  async counts(versions?: ReadonlySet<string>): Promise<PredictionCounts[]> {
    const counted = (await this.redis.smembers(this.key('counted'))).filter((version) => !versions || versions.has(version));
    const out: PredictionCounts[] = [];
    for (const version of counted) {
      const fields = await this.redis.hgetall(this.key('counts', version));
      const byDay = new Map<string, PredictionCounts>();
      for (const [field, value] of Object.entries(fields)) {
        const [day, kind] = field.split(':');
        const entry = byDay.get(day) ?? { version, day, predictions: 0, alerts: 0 };
        if (kind === 'p') entry.predictions = Number(value);
        else entry.alerts = Number(value);
        byDay.set(day, entry);
      }
      if (!byDay.size) await this.redis.srem(this.key('counted'), version);
      out.push(...byDay.values());
    }
    return out;
  }

  /** The last status the monitor wrote of the champion's live quality (for other processes: drift, the CLI). */
  async championStatus(): Promise<ChampionQuality | undefined> {
    const text = await this.redis.get(this.key('champion'));
    return text ? (JSON.parse(text) as ChampionQuality) : undefined;
  }

  async setChampionStatus(status: ChampionQuality): Promise<void> {
    await this.redis.set(this.key('champion'), JSON.stringify(status));
  }
}

/** The champion's live quality as of the monitor's last refresh. */
export interface ChampionQuality {
  version: string;
  /** AP on chargeback labels over the latest quality.windowDays labelled days; null when too few frauds. */
  liveAveragePrecision: number | null;
  /** Its test-set AP as registered in MLflow (metric average_precision of its run); null when not recorded. */
  offlineAveragePrecision: number | null;
  /** offline − quality.apMargin. */
  floor: number | null;
  positives: number;
  from: string | null;
  to: string | null;
  /** True when the live AP is below the floor with at least quality.minPositives frauds. */
  breached: boolean;
  at: string;
}
