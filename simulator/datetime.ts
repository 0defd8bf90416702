// TX_DATETIME text ('YYYY-MM-DD HH:MM:SS', UTC) from seconds since the start date, without a Date per row.

export const SECONDS_PER_DAY = 86400;

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

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

/** 'YYYY-MM-DD' of `startDate` + `days` (UTC). */
export function addDays(startDate: string, days: number): string {
  const [year, month, day] = startDate.split('-').map(Number);
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}

/** Formats the datetimes of one simulation; the date of each day is computed once. */
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
