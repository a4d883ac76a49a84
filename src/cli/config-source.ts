import { defaultConfigDocument } from '../config/default.js';
import { expandDocument, readConfigDocument, type Env } from '../config/load.js';
import { validateConfig, type Config } from '../config/schema.js';
import type { ConfigSource } from '../runtime/config-source.js';
import type { CliArgs } from './args.js';

/**
 * The config the CLI runs: the file (or the embedded default) with `--forward` services appended, expanded and
 * validated as one document, so a reload re-reads exactly the same thing.
 */
export function cliConfigSource(args: CliArgs, env: Env = process.env): ConfigSource {
  const source = args.config ?? 'embedded default';
  async function loadDocument(): Promise<Record<string, unknown>> {
    const doc = args.config ? await readConfigDocument(args.config) : defaultConfigDocument();
    const expanded = expandDocument(doc, source, env);
    if (args.forwards.length > 0) {
      const services = Array.isArray(expanded.services) ? [...(expanded.services as unknown[])] : [];
      args.forwards.forEach((f, i) => services.push({
        name: `forward-${i + 1}`, type: 'forward', listen: f.listen, targets: f.targets,
      }));
      expanded.services = services;
    }
    return expanded;
  }
  return {
    file: args.config,
    loadDocument,
    async load(): Promise<Config> {
      return validateConfig(await loadDocument(), source);
    },
  };
}
