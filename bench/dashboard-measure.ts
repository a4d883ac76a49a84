/**
 * The dashboard's size and speed: the built files' bytes (raw and gzipped, as the admin server sends them) and the
 * time from navigation to an interactive Overview (signed in: the token is in sessionStorage, the runtime facts and
 * service cards have rendered from the first stats tick), over loopback, in headless Chromium.
 *
 *   node dist/bench/dashboard-measure.js [loads=15]
 *
 * The first load is cold (empty browser cache); the others are warm (hashed assets cached, index.html revalidated).
 * Medians and the worst are printed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_UI_DIR } from '../src/admin/static-files.js';
import { startManaged } from '../test/admin/managed.js';
import { echoServer } from '../test/fixtures/tcp.js';
import { browserSkipReason, launchBrowser } from '../test/dashboard/browser.js';

const loads = Number(process.argv[2] ?? 15);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

let raw = 0;
let zipped = 0;
for (const f of files(DEFAULT_UI_DIR)) {
  const body = readFileSync(f);
  const gz = gzipSync(body, { level: 9 }).length;
  raw += body.length;
  zipped += gz;
  console.log(`${f.slice(DEFAULT_UI_DIR.length).padEnd(34)} ${String(body.length).padStart(8)} B  gzip ${gz} B`);
}
console.log(`total ${(raw / 1024).toFixed(1)} KiB, gzipped ${(zipped / 1024).toFixed(1)} KiB (budget 150 KB)`);

const skip = browserSkipReason();
if (skip !== null) {
  console.log(skip);
  process.exit(0);
}
const target = await echoServer();
const tg = await startManaged({
  admin: { listen: '127.0.0.1:0', token: 'bench' },
  users: [{ id: 'alice', quota: { bytes: '1GiB' } }],
  services: [{ name: 'fwd', type: 'forward', listen: '127.0.0.1:0', targets: [target.address] }],
}, 'bench');
const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  // A string script: it runs in the page, where sessionStorage exists (Node's types do not have it).
  await context.addInitScript("sessionStorage.setItem('tidegate.token', 'bench')");
  const times: number[] = [];
  for (let i = 0; i < loads; i++) {
    const page = await context.newPage();
    await page.goto(`${tg.base}/ui/#/overview`);
    await page.waitForSelector('[data-testid="service-fwd"] canvas');
    // Milliseconds since this navigation began (performance's time origin), read once the Overview is drawn.
    times.push(await page.evaluate(() => performance.now()));
    await page.close();
  }
  const [cold, ...warm] = times;
  warm.sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)]!;
  console.log(`first view interactive: cold ${cold!.toFixed(0)} ms; warm median ${median.toFixed(0)} ms, `
    + `worst ${warm[warm.length - 1]!.toFixed(0)} ms (${warm.length} loads)`);
} finally {
  await browser.close();
  await tg.stop();
  await target.close();
}
