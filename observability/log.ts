// JSON logs, one object per line on stdout, for every long-running process (workers, API, stream scorer).
// FRAUDOPS_LOG_LEVEL (debug | info | warn | error) sets the level; info by default.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string): Logger {
  return pino({
    level: process.env.FRAUDOPS_LOG_LEVEL ?? 'info',
    base: { component, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
