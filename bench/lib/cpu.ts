import { readdir, readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

let clockTicks = 0;

/** Clock ticks per second of /proc times (sysconf(_SC_CLK_TCK)); looked up once, 100 when getconf is absent. */
export function clockTicksPerSecond(): number {
  if (clockTicks !== 0) return clockTicks;
  try {
    clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/**
 * CPU seconds (user + system, every thread of the process) a process has used so far, from /proc/<pid>/stat.
 * Threads include the native relay's epoll thread and pool workers, which is what "relay CPU" means.
 */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  return parseProcStatCpuSeconds(text, clockTicksPerSecond());
}

/** Parses utime + stime (fields 14 and 15) out of a /proc/<pid>/stat line; the comm field may hold spaces. */
export function parseProcStatCpuSeconds(statLine: string, ticksPerSecond: number): number {
  const end = statLine.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc/<pid>/stat line: ${statLine.slice(0, 80)}`);
  const fields = statLine.slice(end + 2).trim().split(' ');
  // fields[0] is field 3 (state), so field 14 (utime) is fields[11] and field 15 (stime) is fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`no utime/stime in: ${statLine.slice(0, 80)}`);
  }
  return (utime + stime) / ticksPerSecond;
}

/** CPU seconds of several processes together (a relay that runs as more than one process). */
export async function cpuSecondsOfAll(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuSecondsOf(pid);
  return total;
}

/**
 * CPU seconds a process's live threads have run, in nanoseconds' precision (the sum of
 * /proc/<pid>/task/<tid>/schedstat), for figures too small for clock ticks (an idle process's ms per second). Threads
 * that already exited are not in it.
 */
export async function threadCpuSecondsOf(pid: number): Promise<number> {
  let ns = 0;
  for (const task of await readdir(`/proc/${pid}/task`)) {
    try {
      ns += Number((await readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8')).split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}
