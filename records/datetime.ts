// Event time: the declared time formats parsed to seconds since the Unix epoch, durations, and UTC formatting.
// The one place that knows how a transaction's time is written.

export const SECONDS_PER_DAY = 86_400;

export const LOCAL_FORMAT = 'YYYY-MM-DD HH:mm:ss';
export const TIME_FORMATS = [LOCAL_FORMAT, 'iso8601', 'epoch-seconds', 'epoch-millis'] as const;
export type TimeFormat = (typeof TIME_FORMATS)[number];

export interface TimeSpec {
  format: TimeFormat;
  /** IANA zone of a local `YYYY-MM-DD HH:mm:ss` time (UTC by default). */
  timezone: string;
}

/** Earliest and latest instants accepted: years 1970 to 9999. */
const MIN_SECONDS = 0;
const MAX_SECONDS = 253_402_300_799;

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const EPOCH = /^-?\d+(\.\d+)?$/;

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeapYear = (year: number) => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);

/** Milliseconds of a wall-clock reading taken as UTC, or NaN when the fields are not a real date and time. */
function wallClockMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  // Date.UTC would roll 2018-02-30 over to March, and read years 0–99 as 1900–1999: neither is the date written.
  if (!(year >= 100 && day <= (month === 2 && isLeapYear(year) ? 29 : MONTH_DAYS[month - 1]))) return Number.NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

/** The number written by `count` decimal digits from `at`, or NaN when one is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

/** Seconds since the epoch of 'YYYY-MM-DD HH:MM:SS' (or with a T) read as UTC, or NaN; by character, as ingest reads millions. */
export function parseUtcDatetime(text: string): number {
  if (
    text.length !== 19 ||
    text[4] !== '-' ||
    text[7] !== '-' ||
    (text[10] !== ' ' && text[10] !== 'T') ||
    text[13] !== ':' ||
    text[16] !== ':'
  )
    return Number.NaN;
  // A field that is not digits is NaN, and so is the whole.
  const [year, month, day] = [digitsAt(text, 0, 4), digitsAt(text, 5, 2), digitsAt(text, 8, 2)];
  return wallClockMs(year, month, day, digitsAt(text, 11, 2), digitsAt(text, 14, 2), digitsAt(text, 17, 2)) / 1000;
}

/** The zone's offset from UTC (ms) at an instant, cached per quarter hour (zones change offset on those). */
class ZoneOffsets {
  private readonly format: Intl.DateTimeFormat;
  private readonly cache = new Map<number, number>();

  constructor(readonly zone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  at(instantMs: number): number {
    const bucket = Math.floor(instantMs / 900_000);
    let offset = this.cache.get(bucket);
    if (offset === undefined) {
      const start = bucket * 900_000;
      const parts: Record<string, number> = {};
      for (const p of this.format.formatToParts(start)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
      offset = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second) - start;
      if (this.cache.size > 200_000) this.cache.clear();
      this.cache.set(bucket, offset);
    }
    return offset;
  }

  /**
   * The instant (ms) of a local wall-clock reading (given as if it were UTC): the earlier one when the reading occurs
   * twice (clocks set back), NaN when it never occurs (clocks set forward over it).
   */
  instant(localMs: number): number {
    let best = Number.NaN;
    for (const probe of [localMs - SECONDS_PER_DAY * 1000, localMs, localMs + SECONDS_PER_DAY * 1000]) {
      const candidate = localMs - this.at(probe);
      if (candidate + this.at(candidate) === localMs && !(candidate >= best)) best = candidate;
    }
    return best;
  }
}

/** True when `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export interface TimeReader {
  /** Seconds since the epoch, or NaN when the value breaks the format. */
  read(value: unknown): number;
  /** The rule a value must follow, for error messages. */
  rule: string;
}

/** The parser of one declared time column. */
export function timeReader(spec: TimeSpec): TimeReader {
  const inRange = (seconds: number) => (seconds >= MIN_SECONDS && seconds <= MAX_SECONDS ? seconds : Number.NaN);
  switch (spec.format) {
    case 'epoch-seconds':
    case 'epoch-millis': {
      const scale = spec.format === 'epoch-seconds' ? 1 : 1000;
      return {
        rule: `must be ${spec.format === 'epoch-seconds' ? 'seconds' : 'milliseconds'} since 1970-01-01T00:00:00Z (a number or a numeric string)`,
        read: (value) => {
          const n = typeof value === 'number' ? value : typeof value === 'string' && EPOCH.test(value) ? Number(value) : Number.NaN;
          return Number.isFinite(n) ? inRange(n / scale) : Number.NaN;
        },
      };
    }
    case 'iso8601':
      return {
        rule: 'must be an ISO-8601 date and time with an offset or Z (e.g. 2018-09-30T13:14:15Z or 2018-09-30T15:14:15+02:00)',
        read: (value) => {
          if (typeof value !== 'string') return Number.NaN;
          const m = ISO.exec(value);
          if (!m) return Number.NaN;
          const wall = wallClockMs(+m[1], +m[2], +m[3], +m[4], +m[5], m[6] === undefined ? 0 : +m[6]);
          const zone = m[8].toUpperCase();
          let offsetMinutes = 0;
          if (zone !== 'Z') {
            const digits = zone.replace(':', '');
            const hours = Number(digits.slice(1, 3));
            const minutes = Number(digits.slice(3, 5));
            if (hours > 23 || minutes > 59) return Number.NaN;
            offsetMinutes = (digits[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
          }
          const fraction = m[7] === undefined ? 0 : Number(m[7]);
          return inRange((wall - offsetMinutes * 60_000) / 1000 + fraction);
        },
      };
    default: {
      const zone = spec.timezone;
      const utc = zone === 'UTC' || zone === 'Etc/UTC';
      const offsets = utc ? undefined : new ZoneOffsets(zone);
      return {
        rule: `must be a date and time 'YYYY-MM-DD HH:MM:SS' in ${zone}${utc ? '' : ' that exists there (not inside a daylight-saving gap)'}`,
        read: (value) => {
          if (typeof value !== 'string') return Number.NaN;
          const local = parseUtcDatetime(value);
          if (!offsets || !Number.isFinite(local)) return inRange(local);
          return inRange(offsets.instant(local * 1000) / 1000);
        },
      };
    }
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: SECONDS_PER_DAY };
export const DURATION_RULE = 'a duration: a number and ms, s, m, h or d (e.g. 90s, 5m, 7d)';

/** Seconds of a duration such as 90s, 5m, 7d; NaN when it is not one. */
export function durationSeconds(text: string): number {
  const m = DURATION.exec(text);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2]] : Number.NaN;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/** 'YYYY-MM-DD' of `startDate` + `days` (UTC). */
export function addDays(startDate: string, days: number): string {
  const [year, month, day] = startDate.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}

/** 'YYYY-MM-DD HH:MM:SS' (UTC) of seconds since the epoch. */
export function formatUtc(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

let clockTimes: string[] | undefined;
/** 'HH:MM:SS' for every second of a day, built once. */
function clockTime(secondOfDay: number): string {
  if (!clockTimes) {
    clockTimes = new Array<string>(SECONDS_PER_DAY);
    for (let s = 0; s < SECONDS_PER_DAY; s++) {
      clockTimes[s] = `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}`;
    }
  }
  return clockTimes[secondOfDay];
}

/** 'YYYY-MM-DD HH:MM:SS' (UTC) of many times after one start date, without a Date per row. */
export class DatetimeFormatter {
  private readonly dates: string[] = [];

  constructor(private readonly startDate: string) {}

  format(timeSeconds: number): string {
    const day = Math.floor(timeSeconds / SECONDS_PER_DAY);
    let date = this.dates[day];
    if (date === undefined) {
      date = addDays(this.startDate, day);
      this.dates[day] = date;
    }
    return `${date} ${clockTime(timeSeconds - day * SECONDS_PER_DAY)}`;
  }
}
