import { Redis } from 'ioredis';

const CONNECT_TIMEOUT_MS = 2_000;

/**
 * The process's one Redis connection, shared by the counter store and the gateway's limit store. Commands fail at
 * once while disconnected (no offline queue, no retries): what they carried is the callers' to keep or drop. It
 * reconnects by itself (back-off up to 1 s); each user hears of that through the client's `ready` and `close` events.
 */
export class RedisConnection {
  readonly client: Redis;
  /** The URL without its password (for `/status` and logs). */
  readonly url: string;
  private connecting: Promise<Error | null> | null = null;
  private closed = false;

  constructor(url: string) {
    this.url = redactUrl(url);
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: function redisRetryDelay(times: number) {
        return Math.min(100 * times, 1_000);
      },
    });
  }

  /**
   * Connects once (bounded wait); every caller gets the same outcome: null when connected, else why not (ioredis keeps
   * retrying in the background).
   */
  connect(): Promise<Error | null> {
    this.connecting ??= this.client.connect().then(connected, (err: Error) => err);
    return this.connecting;
  }

  /** Disconnects for good (the owner calls it once every user has sent its last commands). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.disconnect();
  }
}

function connected(): null {
  return null;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(unparseable)';
  }
}
