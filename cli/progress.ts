// Progress for long commands, on stderr: a bar on a terminal, otherwise a plain line every tenth of the way
// (so logs of CI and pipes stay short).
import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progressBar(stream: NodeJS.WriteStream, label: string, total: number): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar({ stream, format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta}s` });
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let printed = -1;
  return {
    update(done) {
      const tenth = total > 0 ? Math.floor((10 * done) / total) : 10;
      if (tenth <= printed) return;
      printed = tenth;
      stream.write(`${label}: ${done}/${total} (${tenth * 10}%)\n`);
    },
    stop: () => undefined,
  };
}
