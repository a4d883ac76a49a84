import { UsageError } from '../errors.js';
import { formatHostPort, parseHostPort } from '../util/address.js';

export interface CliArgs {
  readonly command: 'start' | 'check' | 'bench' | 'profile' | 'help' | 'version';
  readonly config: string | null;
  readonly forwards: readonly { readonly listen: string; readonly targets: readonly string[] }[];
  readonly watch: boolean;
  /** `--workers auto | N`; null: the config's `workers`. */
  readonly workers?: number | 'auto' | null;
  /** Arguments passed through to bench/profile. */
  readonly rest: readonly string[];
}

const COMMANDS = ['start', 'check', 'bench', 'profile', 'help', 'version'] as const;

/** Parses argv (without node and the script). Throws one UsageError listing every problem. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const first = argv[0] ?? 'start';
  if (first === '--help' || first === '-h') return only('help');
  if (first === '--version' || first === '-v') return only('version');
  if (first.startsWith('-')) return parseOptions('start', argv, 0);
  if (!(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(`unknown command "${first}" (expected one of: ${COMMANDS.join(', ')})`);
  }
  const command = first as CliArgs['command'];
  if (command === 'bench' || command === 'profile') return { ...only(command), rest: argv.slice(1) };
  return parseOptions(command, argv, 1);
}

function only(command: CliArgs['command']): CliArgs {
  return { command, config: null, forwards: [], watch: false, workers: null, rest: [] };
}

function parseOptions(command: CliArgs['command'], argv: readonly string[], from: number): CliArgs {
  const problems: string[] = [];
  let config: string | null = null;
  let watch = false;
  let workers: number | 'auto' | null = null;
  const forwards: { listen: string; targets: string[] }[] = [];
  for (let i = from; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const take = (): string | undefined => (eq > 0 ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--config':
      case '-c': {
        const v = take();
        if (!v) problems.push('--config: expected a file path');
        else config = v;
        break;
      }
      case '--forward':
      case '-f': {
        const parsed = parseForward(take(), forwards.length);
        if (typeof parsed === 'string') problems.push(parsed);
        else forwards.push(parsed);
        break;
      }
      case '--watch':
        watch = true;
        break;
      case '--workers': {
        const v = take();
        const n = Number(v);
        if (v === 'auto') workers = 'auto';
        else if (v !== undefined && /^\d+$/.test(v) && n >= 1 && n <= 256) workers = n;
        else problems.push(`--workers: expected auto or a number from 1 to 256, got "${v ?? ''}"`);
        break;
      }
      case '--help':
      case '-h':
        return only('help');
      default:
        problems.push(`unknown option "${arg}"`);
    }
  }
  if (command === 'check' && config === null) problems.push('check: expected --config FILE');
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return { command, config, forwards, watch, workers, rest: [] };
}

/** `LISTEN=TARGET[,TARGET…]`, e.g. `127.0.0.1:2222=10.0.0.5:22`. */
function parseForward(text: string | undefined, index: number): { listen: string; targets: string[] } | string {
  const where = `--forward[${index}]`;
  if (!text) return `${where}: expected LISTEN=TARGET, e.g. 127.0.0.1:2222=10.0.0.5:22`;
  const eq = text.indexOf('=');
  if (eq < 0) return `${where}: expected LISTEN=TARGET, got "${text}"`;
  const listen = parseHostPort(text.slice(0, eq));
  if (typeof listen === 'string') return `${where}.listen: ${listen}`;
  const targets: string[] = [];
  for (const [i, t] of text.slice(eq + 1).split(',').entries()) {
    const target = parseHostPort(t);
    if (typeof target === 'string') return `${where}.targets[${i}]: ${target}`;
    targets.push(formatHostPort(target));
  }
  return { listen: formatHostPort(listen), targets };
}
