/**
 * The model names a channel's upstream lists (its models endpoint, read by the ModelsRefresher); `/v1/models` shows
 * those its globs match (the globs may change on reload without a new read). A failed read keeps the last list and
 * says why; `version` moves whenever the list changes, so `/v1/models` bodies built from it know when to rebuild.
 */
export class ModelCatalog {
  names: readonly string[] = [];
  /** Date.now() of the last successful read; null: never. */
  fetchedAt: number | null = null;
  /** Date.now() of the last attempt, successful or not. */
  triedAt: number | null = null;
  /** Why the last read failed; null after a success. */
  error: string | null = null;
  version = 0;
  /** A read is under way: the next tick does not start another. */
  reading = false;

  /** A successful read: the new list (sorted, unique). */
  replace(names: readonly string[], now: number): void {
    this.fetchedAt = this.triedAt = now;
    this.error = null;
    if (!sameList(this.names, names)) {
      this.names = names;
      this.version++;
    }
  }

  /** A failed read: the last list stays. */
  failed(reason: string, now: number): void {
    this.triedAt = now;
    this.error = reason;
  }

  snapshot(): Record<string, unknown> {
    return {
      count: this.names.length, names: this.names,
      fetchedAt: this.fetchedAt === null ? null : new Date(this.fetchedAt).toISOString(),
      triedAt: this.triedAt === null ? null : new Date(this.triedAt).toISOString(),
      error: this.error,
    };
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
