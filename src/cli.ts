#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, type CliArgs } from './cli/args.js';
import { cliConfigSource } from './cli/config-source.js';
import { manage, MANAGE_COMMANDS, MANAGE_HELP } from './cli/manage.js';
import { redactConfig } from './config/redact.js';
import { ConfigError, ConfigReadError, formatIssue, InternalError, TidegateError, UsageError } from './errors.js';
import { installProcessGuard } from './guard/process.js';
import { createLogger } from './log.js';
import { Runtime } from './runtime/runtime.js';
import { VERSION } from './version.js';

const HELP = `tidegate ${VERSION} — a high-throughput traffic gateway

Usage:
  tidegate start [--config FILE] [--forward LISTEN=TARGET[,TARGET…] ...] [--watch] [--workers auto|N]
  tidegate check --config FILE
  tidegate bench [SCENARIO ...]
  tidegate profile SCENARIO

  --config, -c FILE     YAML or JSON config (\${VAR} and \${VAR:-default} are expanded)
  --forward, -f L=T     quick TCP forward, e.g. --forward 127.0.0.1:2222=10.0.0.5:22 (repeatable)
  --watch               reload when the config file changes (also reload.watch: true)
  --workers auto|N      worker processes sharing the listeners (also workers:); 1 runs everything in this process

Signals: SIGHUP reloads the config; SIGTERM / SIGINT shut down gracefully; SIGUSR2 restarts the workers one at a
time (with --workers).
Exit codes: 0 ok, 1 runtime failure (e.g. a port in use), 2 invalid config or usage.

${MANAGE_HELP}`;

async function main(argv: readonly string[]): Promise<number> {
  if ((MANAGE_COMMANDS as readonly string[]).includes(argv[0] ?? '')) {
    try {
      return await manage(argv, { out: (text) => process.stdout.write(`${text}\n`), env: process.env });
    } catch (err) {
      return fail(err as Error);
    }
  }
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    return fail(err as Error);
  }
  switch (args.command) {
    case 'help':
      process.stdout.write(`${HELP}\n`);
      return 0;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'check':
      return check(args);
    case 'bench':
      return runScript('run.js', args.rest);
    case 'profile':
      return runScript('profile.js', args.rest);
    default:
      return start(args);
  }
}

async function check(args: CliArgs): Promise<number> {
  try {
    const config = await cliConfigSource(args).load();
    process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    process.stderr.write(
      `config ${args.config} is valid: ${config.services.length} service(s), ${config.users.length} user(s)\n`,
    );
    return 0;
  } catch (err) {
    return fail(err as Error);
  }
}

async function start(args: CliArgs): Promise<number> {
  const source = cliConfigSource(args);
  let runtime: Runtime;
  let restartWorkers: (() => Promise<void>) | null = null;
  try {
    const config = await source.load();
    const log = createLogger(config.log.level);
    const workers = args.workers === 'auto' ? Math.max(1, availableParallelism()) : args.workers ?? config.workers;
    if (workers > 1) {
      // Loaded only with workers: one process runs exactly as before.
      const { startPrimary } = await import('./cluster/primary.js');
      const started = await startPrimary(config, { log, source, watch: args.watch }, workers);
      runtime = started.runtime;
      restartWorkers = () => started.fleet.restartAll();
    } else {
      runtime = await Runtime.start(config, { log, source, watch: args.watch });
    }
  } catch (err) {
    return fail(err as Error);
  }
  const log = runtime.log;
  installProcessGuard(log);
  if (restartWorkers !== null) {
    const restart = restartWorkers;
    process.on('SIGUSR2', function rollingRestartOnSignal() {
      log.info('SIGUSR2: rolling restart of the workers');
      restart().catch(() => {
        /* logged by the fleet */
      });
    });
  }
  process.on('SIGHUP', function reloadOnHangup() {
    log.info('SIGHUP: reloading config');
    runtime.reloadFromSource().catch(() => {
      /* logged by the runtime; nothing changed */
    });
  });
  return new Promise<number>((resolve) => {
    let signals = 0;
    function stopOnSignal(signal: NodeJS.Signals): void {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      log.info({ signal }, 'shutting down gracefully');
      runtime.shutdown().then(() => resolve(0), (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        resolve(1);
      });
    }
    process.on('SIGTERM', stopOnSignal);
    process.on('SIGINT', stopOnSignal);
  });
}

/** Runs a bench script from the compiled bench/ folder (present in a source checkout, not in the npm package). */
function runScript(script: string, rest: readonly string[]): Promise<number> {
  const file = fileURLToPath(new URL(`../bench/${script}`, import.meta.url));
  if (!existsSync(file)) {
    const err = new UsageError(`${file} not found: benches run from a source checkout (npm run build)`);
    return Promise.resolve(fail(err));
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...rest], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** Prints an error for a person and returns the exit code: 2 for config and usage, 1 otherwise. */
function fail(err: Error): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`tidegate: ${err.code}: ${err.issues.length} problem(s) in the config:\n`);
    for (const issue of err.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
    return 2;
  }
  if (err instanceof ConfigReadError || err instanceof UsageError) {
    process.stderr.write(`tidegate: ${err.code}: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write('run "tidegate --help" for usage\n');
    return 2;
  }
  const known = err instanceof TidegateError ? err : new InternalError(err.message);
  process.stderr.write(`tidegate: ${known.code}: ${known.message}\n`);
  return 1;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Anything still holding the loop after a clean stop is a leak; don't hang the terminal over it.
  if (process.argv[2] !== 'bench' && process.argv[2] !== 'profile') setTimeout(() => process.exit(code), 2_000).unref();
}, (err: unknown) => {
  // main reports every expected failure itself; anything else is an internal error, reported the same way.
  process.exitCode = fail(err instanceof Error ? err : new Error(String(err)));
});
