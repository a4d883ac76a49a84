/**
 * The live native relays by id. An id is an index into one array and is reused once its relay has finished: the
 * close record is the addon's last word on an id, and the addon forgets the id before it sends that record. So a
 * stats record finds its relay with an array read, and nothing rehashes as connections come and go (a Map that churns
 * keeps a chain of retired tables alive; see SlotList).
 */
export class RelayTable<T> {
  /** Index 0 is never an id. */
  private readonly items: (T | null)[] = [null];
  private readonly freeIds: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** An id for the next `set()`. */
  nextId(): number {
    return this.freeIds.pop() ?? this.items.length;
  }

  set(id: number, item: T): void {
    this.items[id] = item;
    this.count++;
  }

  get(id: number): T | undefined {
    return this.items[id] ?? undefined;
  }

  /** Frees `id` for reuse; call it only once the addon has sent the id's close record (or never saw the id). */
  delete(id: number): void {
    if (this.items[id] === null || this.items[id] === undefined) return;
    this.items[id] = null;
    this.freeIds.push(id);
    this.count--;
  }

  /** The live relays, copied (callers may finish relays while they walk). */
  values(): T[] {
    const out: T[] = [];
    for (const item of this.items) if (item !== null) out.push(item);
    return out;
  }
}
