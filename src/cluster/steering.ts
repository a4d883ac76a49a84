import { availableParallelism } from 'node:os';
import type { ListenCalls } from '../listen/reuseport.js';

/**
 * Opt-in locality for reuseport fleets (issue 22; docs/workers.md, "Steering by CPU"). `TIDEGATE_REUSEPORT_STEER=cpu`:
 * each address's socket group gets a classic BPF program that picks the socket by the CPU handling the connection's
 * SYN (index = cpu % slots, slot order); `TIDEGATE_WORKER_PIN=1`: slot s runs on the CPUs c with c % slots = s - 1,
 * so a worker gets the connections that arrive on its own CPUs. Both assume CPUs 0..cores-1 and at most one worker
 * per core; with more workers than cores neither applies (the extra slots would get no connection).
 */
export function steerByCpuWanted(slots: number): boolean {
  return process.env.TIDEGATE_REUSEPORT_STEER === 'cpu' && slots <= availableParallelism();
}

/** The CPUs of `slot` (1-based) among `slots` workers: c with c % slots = slot - 1. */
export function slotCpus(slot: number, slots: number, cores = availableParallelism()): number[] {
  const out: number[] = [];
  for (let c = slot - 1; c < cores; c += slots) out.push(c);
  return out;
}

/** Pins this worker's threads to its slot's CPUs when asked and possible; the errno when the kernel refused. */
export function pinWorker(calls: ListenCalls | null, slot: number, slots: number): number {
  const cores = availableParallelism();
  if (process.env.TIDEGATE_WORKER_PIN !== '1' || calls?.pinProcess === undefined || slots > cores) return 0;
  return calls.pinProcess(slotCpus(slot, slots, cores));
}
