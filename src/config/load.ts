import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ConfigReadError, type ConfigIssue } from '../errors.js';
import { validateConfig, type Config } from './schema.js';
import { join } from './validator.js';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads, parses, expands `${VAR}` / `${VAR:-default}` and validates a config file. Throws ConfigReadError /
 * ConfigError.
 */
export async function loadConfigFile(file: string, env: Env = process.env): Promise<Config> {
  return documentToConfig(await readConfigDocument(file), file, env);
}

/** Expands the environment into a parsed document and validates it whole. */
export function documentToConfig(doc: unknown, source: string, env: Env = process.env): Config {
  return validateConfig(expandDocument(doc, source, env), source);
}

/** `${VAR}` expansion over a whole document; every unset variable is reported with its path. */
export function expandDocument(doc: unknown, source: string, env: Env): Record<string, unknown> {
  const issues: ConfigIssue[] = [];
  const expanded = expandEnv(doc ?? {}, '', env, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  return expanded as Record<string, unknown>;
}

/** Reads and parses a config file: YAML (of which JSON is a subset); `.json` files are parsed strictly as JSON. */
export async function readConfigDocument(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigReadError(
      `cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, source: string): unknown {
  // An empty file is a mistake or a file caught mid-write (watch mode): never "a config with no services".
  if (text.trim() === '') throw new ConfigReadError(`config ${source} is empty`);
  try {
    return extname(source).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigReadError(`cannot parse config ${source}: ${(err as Error).message}`);
  }
}

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expands `${VAR}` and `${VAR:-default}` in every string value (not in keys). An unset `${VAR}` without a default
 * is an error at that path, so a missing secret is caught before anything starts.
 */
export function expandEnv(value: unknown, path: string, env: Env, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_RE, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      if (v === undefined) {
        issues.push({
          path, message: `environment variable ${name} is not set (use \${${name}:-default} for a default)`,
        });
      }
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, join(path, i), env, issues));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, join(path, k), env, issues);
    return out;
  }
  return value;
}
