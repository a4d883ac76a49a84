import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { hasCommand, ManagedProcess, runCommand } from './process.js';

/** Another HTTP proxy measured beside tidegate's: started on 127.0.0.1 in `dir`, stopped by the bench. */
export interface ProxyPeer {
  readonly name: string;
  /** Debian's package that provides it. */
  readonly pkg: string;
  /** Its executable, or null when it is not installed. */
  find(): Promise<string | null>;
  start(executable: string, dir: string): Promise<{ process: ManagedProcess; port: number }>;
}

/** The first of `paths` that runs (PATH lookups first, then where Debian puts daemons). */
async function firstRunnable(paths: readonly string[], versionArgs: readonly string[]): Promise<string | null> {
  for (const path of paths) if (await hasCommand(path, versionArgs)) return path;
  return null;
}

export const TINYPROXY: ProxyPeer = {
  name: 'tinyproxy',
  pkg: 'tinyproxy',
  find: () => firstRunnable(['tinyproxy', '/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'], ['-v']),
  async start(executable, dir) {
    const port = await freePort();
    const conf = join(dir, 'tinyproxy.conf');
    await writeFile(conf, [
      `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', 'MaxClients 1000', 'Allow 127.0.0.1', 'LogLevel Critical',
      'DisableViaHeader Yes',
    ].join('\n') + '\n');
    const child = new ManagedProcess('tinyproxy', executable, ['-d', '-c', conf]);
    await waitForPort(port, 10_000, () => child.assertAlive());
    return { process: child, port };
  },
};

/**
 * squid as a forward proxy with caching off (every request goes to the origin, as through the others), no access
 * log, one worker, in the foreground (`-N`). Run as root it switches to its `proxy` user, so its directory is open.
 */
export const SQUID: ProxyPeer = {
  name: 'squid',
  pkg: 'squid',
  find: () => firstRunnable(['squid', '/usr/sbin/squid'], ['-v']),
  async start(executable, dir) {
    const port = await freePort();
    const home = join(dir, 'squid');
    await runCommand('mkdir', ['-p', home]);
    await chmod(home, 0o777);
    const conf = join(home, 'squid.conf');
    await writeFile(conf, [
      `http_port 127.0.0.1:${port}`, 'http_access allow all', 'cache deny all', 'access_log none',
      'cache_store_log none', `cache_log ${join(home, 'cache.log')}`, `pid_filename ${join(home, 'squid.pid')}`,
      `coredump_dir ${home}`, 'via off', 'forwarded_for delete', 'shutdown_lifetime 1 seconds',
      'client_persistent_connections on', 'server_persistent_connections on',
    ].join('\n') + '\n');
    const child = new ManagedProcess('squid', executable, ['-N', '-f', conf]);
    await waitForPort(port, 20_000, () => child.assertAlive());
    return { process: child, port };
  },
};

/**
 * The peer's executable; when it is missing and this is root with apt-get, one `apt-get install -y` is tried. null
 * (with the reason in `notes`) when it stays missing: the bench measures the others.
 */
export async function findOrInstall(peer: ProxyPeer, notes: string[]): Promise<string | null> {
  const found = await peer.find();
  if (found !== null) return found;
  if (process.getuid?.() === 0 && await hasCommand('apt-get', ['--version'])) {
    const run = await runCommand('apt-get', ['install', '-y', '--no-install-recommends', peer.pkg], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    const installed = run.code === 0 ? await peer.find() : null;
    if (installed !== null) return installed;
    notes.push(`${peer.name} is not installed and apt-get install ${peer.pkg} failed (exit ${run.code}): skipped`);
    return null;
  }
  notes.push(`${peer.name} is not installed (apt-get install -y ${peer.pkg}): skipped`);
  return null;
}
