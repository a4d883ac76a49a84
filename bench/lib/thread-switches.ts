/**
 * Context switches of a process's threads, from /proc/<pid>/task/<tid>/status: voluntary ones (the thread slept, so
 * each is a wake-up) and involuntary ones (it was preempted while runnable). Read before and after a window. A thread
 * that ended in between reads as absent. Linux only.
 */
import { readdir, readFile } from 'node:fs/promises';

export interface ThreadSwitches {
  /** `<name>/<tid>`, e.g. `tg-relay/2317`. */
  readonly thread: string;
  readonly voluntary: number;
  readonly involuntary: number;
}

/** Each thread of `pid`, as it stands now. */
export async function threadSwitchesOf(pid: number): Promise<ThreadSwitches[]> {
  const out: ThreadSwitches[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const status = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8').catch(() => '');
    if (status === '') continue;
    out.push({
      thread: `${/^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?'}/${tid}`,
      voluntary: Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0),
      involuntary: Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0),
    });
  }
  return out;
}

/** Every thread of these processes, summed. */
export async function switchesOf(pids: readonly number[]): Promise<{ voluntary: number; involuntary: number }> {
  let voluntary = 0;
  let involuntary = 0;
  for (const pid of pids) {
    for (const t of await threadSwitchesOf(pid)) {
      voluntary += t.voluntary;
      involuntary += t.involuntary;
    }
  }
  return { voluntary, involuntary };
}
