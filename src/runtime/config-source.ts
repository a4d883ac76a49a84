import type { Config } from '../config/schema.js';

/** Where the runtime gets its config again on reload: the file named at start plus any CLI flags. */
export interface ConfigSource {
  /** The file to watch, or null when the config is embedded / flags only. */
  readonly file: string | null;
  load(): Promise<Config>;
  /**
   * The document `load` validates (`${ENV}` expanded), when the source has one: the admin API's overlay is merged
   * into it, so API users and services survive a file reload.
   */
  loadDocument?(): Promise<Record<string, unknown>>;
}
