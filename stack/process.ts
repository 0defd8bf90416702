// Detached service processes tracked by pid files. A service is stopped only through its own pid
// file, and only when the pid still runs the command we started (never by process name).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PidRecord {
  pid: number;
  /** The executable we started; a live pid whose command line does not contain it is not ours. */
  executable: string;
  startedAt: string;
}

export interface LaunchSpec {
  executable: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd: string;
  logFile: string;
  pidFile: string;
}

export function readPidRecord(pidFile: string): PidRecord | undefined {
  if (!existsSync(pidFile)) return undefined;
  try {
    const record = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
    return Number.isInteger(record.pid) && record.pid > 1 ? record : undefined;
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** State and process group of a pid from /proc/<pid>/stat ("pid (comm) state ppid pgrp ..."). */
function procStat(pid: number): { state: string; pgrp: number; cpuTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The comm may hold spaces and parentheses: parse from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, and cutime, cstime: the children it has waited for (a worker's training jobs).
    const cpuTicks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { state: fields[0], pgrp: Number(fields[2]), cpuTicks };
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z';
}

/** Live (non-zombie) processes of a process group. */
export function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z';
    });
}

let clockTicks: number | undefined;

/** CPU seconds (user + system, with their waited-for children's) the live processes have used so far. */
export function cpuSeconds(pids: readonly number[]): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return pids.reduce((sum, pid) => sum + (procStat(pid)?.cpuTicks ?? 0), 0) / clockTicks;
}

/** The live pid recorded in the pid file, if it still runs the executable we started. */
export function livePid(pidFile: string): number | undefined {
  const record = readPidRecord(pidFile);
  if (!record) return undefined;
  const cmd = commandLine(record.pid);
  if (cmd === undefined || isZombie(record.pid)) return undefined;
  return cmd.includes(path.basename(record.executable)) ? record.pid : undefined;
}

/** Starts the process in its own process group, output appended to the log file. */
export function launch(spec: LaunchSpec): number {
  mkdirSync(path.dirname(spec.logFile), { recursive: true });
  mkdirSync(path.dirname(spec.pidFile), { recursive: true });
  mkdirSync(spec.cwd, { recursive: true });
  const log = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.executable, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.executable}`);
    child.unref();
    const record: PidRecord = { pid: child.pid, executable: spec.executable, startedAt: new Date().toISOString() };
    writeFileSync(spec.pidFile, `${JSON.stringify(record)}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function groupAlive(pgid: number): boolean {
  return groupMembers(pgid).length > 0;
}

/**
 * Stops the process group recorded in the pid file: SIGTERM, then SIGKILL after the grace time.
 * Leftovers of a group whose leader already died (e.g. a server's worker) are stopped too.
 * Returns false when there was nothing of ours to stop.
 */
export async function stopByPidFile(pidFile: string, graceMs = 20_000): Promise<boolean> {
  const pgid = readPidRecord(pidFile)?.pid;
  // A recorded pid that runs something else was recycled: touch nothing. A dead leader's group
  // still having members means leftovers of ours (Linux does not reuse a pid still used as a group id).
  const ours = pgid !== undefined && (livePid(pidFile) !== undefined || (isZombie(pgid) && groupAlive(pgid)));
  if (!ours) {
    rmSync(pidFile, { force: true });
    return false;
  }
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && groupAlive(pgid)) await sleep(100);
  if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline && groupAlive(pgid)) await sleep(100);
  rmSync(pidFile, { force: true });
  return true;
}

/** The last `lines` lines of a log file (empty when absent). */
export function tailFile(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}
