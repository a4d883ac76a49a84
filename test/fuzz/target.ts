import type { Rng } from './rng.js';

/** The service of the running tidegate an input goes to. */
export type ServiceKey = 'proxy' | 'admin' | 'gateway';

/** What the generators may refer to: real loopback ports and the one valid client key. */
export interface FuzzEnv {
  readonly echoPort: number;
  readonly adminPort: number;
  readonly clientKey: string;
  readonly maxBodyBytes: number;
}

/** One input: written as `chunks` (separate writes), then the client half-closes unless `holdOpen`. */
export interface FuzzInput {
  readonly target: string;
  readonly service: ServiceKey;
  readonly chunks: readonly Buffer[];
  readonly holdOpen: boolean;
}

/** A generator for one parser: returns the bytes of one input, valid-looking or not. */
export interface FuzzTarget {
  readonly name: string;
  readonly service: ServiceKey;
  generate(rng: Rng, env: FuzzEnv): Buffer;
}
