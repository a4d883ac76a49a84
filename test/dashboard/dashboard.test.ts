import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Socket } from 'node:net';
import { firehose } from '../fixtures/tcp.js';
import { MockUpstream } from '../fixtures/llm-upstream.js';
import { channel } from '../helpers/gateway.js';
import { freePortRange, type TestServer } from '../helpers/listen.js';
import { chat } from '../helpers/llm.js';
import { connectTo, readBytes } from '../helpers/sockets.js';
import { startTidegate, type Running } from '../helpers/tidegate.js';
import { startManaged, type Managed } from '../admin/managed.js';
import { eventually } from '../helpers/wait.js';
import { browserSkipReason, launchBrowser, screenshot, signIn } from './browser.js';

const WRITE = 'dash-write-token';
const READ = 'dash-read-token';
const skip = browserSkipReason();
if (skip !== null) console.log(`# ${skip}`);

/** Where `listen: 127.0.0.1:auto` services go (set before the start). */
let portRange = '';

/**
 * The test config (a file, as the CLI starts it: the management API changes only a file-started tidegate): a forward
 * to a firehose (a download), a gateway over a mock OpenAI upstream, two users.
 */
function configDoc(download: TestServer, up: MockUpstream): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0', token: WRITE, tokens: [{ token: READ, role: 'read' }], portRange },
    pool: { threads: 1 },
    users: [
      // A slow download: its bytes rise for as long as the test needs, without taking the machine.
      {
        id: 'alice', keys: ['ka'], quota: { bytes: '10GiB', period: 'monthly' },
        rate: { in: '1MiB/s', out: '1MiB/s' },
      },
      { id: 'bob', keys: ['kb'] },
    ],
    services: [
      { name: 'download', type: 'forward', listen: '127.0.0.1:0', user: 'alice', targets: [download.address] },
      { name: 'llm', type: 'gateway', listen: '127.0.0.1:0', channels: [channel(up, { models: ['gpt-*'] })] },
    ],
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${WRITE}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

function listenOf(tg: Managed, name: string): string {
  const s = tg.runtime.status().services.find((x) => x.name === name);
  if (s === undefined) throw new Error(`no service ${name}`);
  return s.listen;
}

/**
 * Console errors and page exceptions (a CSP violation shows up here): none is expected. An API answer of 4xx the page
 * shows (the invalid reload's 422) is logged by Chromium as a failed load: not an error of the page.
 */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      errors.push(m.text());
    }
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

async function go(page: Page, view: string): Promise<void> {
  await page.click(`[data-testid="nav-${view}"]`);
  await page.waitForSelector(`[data-testid="view-${view}"]`);
}

describe('dashboard in Chromium', { skip: skip ?? false }, () => {
  let download: TestServer;
  let up: MockUpstream;
  let tg: Managed;
  let base: string;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let client: Socket | null = null;

  before(async () => {
    download = await firehose();
    up = await MockUpstream.start({ dialect: 'openai', name: 'oa', usage: { prompt: 21, completion: 9 } });
    const from = await freePortRange(10);
    portRange = `${from}-${from + 9}`;
    tg = await startManaged(configDoc(download, up), WRITE);
    base = tg.base;
    // One gateway request, so the request log and the channel have something to show.
    const res = await fetch(`http://${listenOf(tg, 'llm')}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: 'Bearer ka', 'content-type': 'application/json' },
      body: JSON.stringify(chat('gpt-4o')),
    });
    assert.equal(res.status, 200);
    await res.text();
    browser = await launchBrowser();
  });
  after(async () => {
    client?.destroy();
    await browser?.close();
    await tg?.stop();
    await up?.close();
    await download?.close();
  });

  it('signs in with the admin token and shows the services of the config on the Overview', async () => {
    page = await signIn(browser, base, WRITE);
    errors = watchErrors(page);
    for (const name of ['download', 'llm']) {
      const card = page.locator(`[data-testid="service-${name}"]`);
      await card.waitFor();
      assert.match(await card.innerText(), /running/);
      assert.match(await card.innerText(), new RegExp(listenOf(tg, name).replace(/\./g, '\\.')));
    }
    const facts = await page.locator('[data-testid="runtime-facts"]').innerText();
    assert.match(facts, new RegExp(tg.runtime.status().relayEngine));
    assert.equal(await page.locator('[data-testid="read-only"]').count(), 0);
    await screenshot(page, 'overview');
  });

  it('a wrong token is refused at the login', async () => {
    const other = await browser.newPage();
    await other.goto(`${base}/ui/`);
    await other.fill('[data-testid="login"] input[name="token"]', 'not-a-token');
    await other.click('[data-testid="login"] button[type="submit"]');
    await other.waitForSelector('[data-testid="login-error"]');
    await other.close();
  });

  it('a read token sees the data but no mutating control', async () => {
    const reader = await signIn(browser, base, READ);
    await reader.waitForSelector('[data-testid="read-only"]');
    await go(reader, 'users');
    await reader.waitForSelector('[data-testid="user-row"][data-user="alice"]');
    for (const control of ['new-user', 'issue-key', 'edit-user']) {
      assert.equal(await reader.locator(`[data-testid="${control}"]`).count(), 0, control);
    }
    await go(reader, 'services');
    await reader.waitForSelector('[data-testid="service-row"][data-service="download"]');
    assert.equal(await reader.locator('[data-testid="new-service"]').count(), 0);
    assert.equal(await reader.locator('[data-testid="services-table"] button').count(), 0);
    await go(reader, 'reload');
    assert.equal(await reader.locator('[data-testid="reload-now"]').count(), 0);
    await reader.close();
  });

  it('creates a user and issues a key that is shown once', async () => {
    await go(page, 'users');
    await page.click('[data-testid="new-user"]');
    await page.fill('[data-testid="user-form"] input[name="id"]', 'carol');
    await page.fill('[data-testid="user-form"] input[name="quota"]', '5GiB');
    await page.click('[data-testid="user-submit"]');
    const row = page.locator('[data-testid="user-row"][data-user="carol"]');
    await row.waitFor();
    assert.equal((await api(base, 'GET', '/users/carol')).body.config.quota.bytes, 5 * 2 ** 30);
    await screenshot(page, 'users');

    await row.locator('[data-testid="issue-key"]').click();
    const shown = page.locator('[data-testid="new-key"]');
    await shown.waitFor();
    const key = await shown.inputValue();
    assert.ok(key.length >= 16, key);
    await screenshot(page, 'key-shown-once');
    const user = (await api(base, 'GET', '/users/carol')).body;
    assert.equal(user.issuedKeys.length, 1);
    assert.ok(!JSON.stringify(user).includes(key), 'the API never shows the key again');
    await page.click('.modal footer button');
    const gone = async (): Promise<boolean> => (await page.locator('[data-testid="new-key"]').count()) === 0;
    await eventually(gone, 10_000, 'dialog closed');
    assert.ok(!(await page.content()).includes(key), 'the page no longer holds the key');
    // The key works at the gateway: carol can call it.
    const res = await fetch(`http://${listenOf(tg, 'llm')}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat('gpt-4o')),
    });
    assert.equal(res.status, 200);
    await res.text();
  });

  it('edits a quota', async () => {
    const row = page.locator('[data-testid="user-row"][data-user="carol"]');
    await row.locator('[data-testid="edit-user"]').click();
    await page.fill('[data-testid="user-form"] input[name="quota"]', '7GiB');
    await page.click('[data-testid="user-submit"]');
    await eventually(async () => (await api(base, 'GET', '/users/carol')).body.config.quota.bytes === 7 * 2 ** 30,
      10_000, 'the quota changed');
    const carolUsage = '[data-testid="user-row"][data-user="carol"] [data-testid="usage-text"]';
    await page.locator(carolUsage, { hasText: '7.00 GiB' })
      .waitFor();
  });

  it("watches a download's bytes rise on the Overview", async () => {
    await go(page, 'overview');
    client = await connectTo(Number(listenOf(tg, 'download').split(':').pop()));
    client.on('error', () => undefined);
    client.resume();
    const bytes = page.locator('[data-testid="service-download"] [data-testid="bytes-total"]');
    const read = async (): Promise<number> => Number(await bytes.getAttribute('data-bytes'));
    let first = 0;
    await eventually(async () => (first = await read()) > 0, 20_000, 'download bytes on the page');
    await eventually(async () => (await read()) > first, 20_000, 'download bytes rising on the page');
    await page.locator('[data-testid="service-download"] [data-testid="live-connections"]', { hasText: '1' }).waitFor();
    assert.ok(await page.locator('[data-testid="service-download"] canvas').count() > 0, 'a sparkline');
    await screenshot(page, 'overview-download');
  });

  it('services: targets with up/down and live counts', async () => {
    await go(page, 'services');
    const row = page.locator('[data-testid="service-row"][data-service="download"]');
    await row.waitFor();
    await row.locator('[data-testid="target"] .dot.up').waitFor();
    assert.match(await row.locator('[data-testid="target"]').innerText(), new RegExp(download.address));
    await screenshot(page, 'services');
  });

  it('services: adds a forward that relays at once, then removes it', async () => {
    await page.click('[data-testid="new-service"]');
    await page.fill('[data-testid="service-form"] input[name="name"]', 'web');
    await page.fill('[data-testid="service-form"] input[name="targets"]', download.address);
    await page.click('[data-testid="service-submit"]');
    const row = page.locator('[data-testid="service-row"][data-service="web"]');
    await row.waitFor();
    await row.locator('.state', { hasText: 'running' }).waitFor();
    const web = await connectTo(Number(listenOf(tg, 'web').split(':').pop()));
    await readBytes(web, 1024);
    web.destroy();
    page.once('dialog', (d) => void d.accept());
    await row.locator('button', { hasText: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api(base, 'GET', '/services/web')).status, 404);
  });

  it('gateway: channels, the request log and a detail drawer', async () => {
    await go(page, 'gateway');
    await page.locator('[data-testid="channel-row"]', { hasText: 'oa' }).waitFor();
    const rows = page.locator('[data-testid="request-row"]');
    await rows.first().waitFor();
    assert.match(await rows.first().innerText(), /gpt-4o/);
    await page.fill('[data-testid="request-filters"] input[name="user"]', 'alice');
    await page.click('[data-testid="request-filters"] button[type="submit"]');
    await eventually(async () => (await rows.count()) === 1, 10_000, 'one request of alice');
    await rows.first().click();
    const drawer = page.locator('[data-testid="request-drawer"]');
    await drawer.waitFor();
    assert.match(await drawer.innerText(), /alice/);
    await page.locator('[data-testid="tokens-chart"] canvas').first().waitFor();
    await screenshot(page, 'gateway');
    await drawer.locator('button').click();
  });

  it('shows live events as they happen', async () => {
    await go(page, 'events');
    await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();
    const created = await api(base, 'POST', '/users', { id: 'dave' });
    assert.equal(created.status, 201);
    await page.locator('[data-testid="event"][data-type="user"]', { hasText: 'dave' }).waitFor();
    await api(base, 'POST', '/users/dave/keys', {});
    await page.locator('[data-testid="event"][data-type="key"]', { hasText: 'dave' }).waitFor();
    await screenshot(page, 'events');
  });

  it('disables and deletes a user', async () => {
    await go(page, 'users');
    const row = page.locator('[data-testid="user-row"][data-user="dave"]');
    await row.locator('button', { hasText: 'Disable' }).click();
    await eventually(async () => (await api(base, 'GET', '/users/dave')).body.config.enabled === false, 10_000,
      'dave disabled');
    await row.locator('button', { hasText: 'Enable' }).waitFor();
    page.once('dialog', (d) => void d.accept());
    await row.locator('button', { hasText: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api(base, 'GET', '/users/dave')).status, 404);
  });

  it('a reload with an invalid config shows every error with its path; a valid one shows the diff', async () => {
    const good = configDoc(download, up);
    const bad = {
      ...good,
      services: [
        ...(good.services as object[]),
        { name: 'broken', type: 'forward', listen: '127.0.0.1:0', targets: [], strategy: 'sideways' },
      ],
    };
    await tg.writeConfig(bad);
    await go(page, 'reload');
    await page.click('[data-testid="reload-now"]');
    const paths = page.locator('[data-testid="reload-result"] .issues .path');
    await paths.first().waitFor();
    const text = (await paths.allInnerTexts()).join('\n');
    assert.match(text, /services\[2\]\.strategy/);
    assert.match(text, /services\[2\]\.targets/);
    await screenshot(page, 'reload-errors');
    // The Overview tells the last error too.
    await go(page, 'overview');
    await page.locator('[data-testid="last-reload-error"]', { hasText: 'strategy' }).waitFor();

    await tg.writeConfig(good);
    await go(page, 'reload');
    await page.click('[data-testid="reload-now"]');
    await page.locator('[data-testid="reload-diff"]').waitFor();
    assert.match(await page.locator('[data-testid="reload-diff"]').innerText(), /download/);
  });

  it('switches to Simplified Chinese and back', async () => {
    await page.selectOption('[data-testid="language"]', 'zh');
    await page.locator('[data-testid="nav-users"]', { hasText: '用户' }).waitFor();
    await page.locator('[data-testid="view-reload"] h1', { hasText: '重载' }).waitFor();
    await screenshot(page, 'reload-zh');
    await page.selectOption('[data-testid="language"]', 'en');
    await page.locator('[data-testid="nav-users"]', { hasText: 'Users' }).waitFor();
    await page.click('[data-testid="theme"]');
    await go(page, 'overview');
    await page.locator('[data-testid="service-download"]').waitFor();
  });

  it('raised no console error and no CSP violation', () => {
    assert.deepEqual(errors, []);
  });
});

describe('dashboard with 10,000 users', { skip: skip ?? false }, () => {
  let tg: Running;
  let browser: Browser;
  const count = 10_000;
  const id = (i: number): string => `user-${String(i).padStart(5, '0')}`;

  before(async () => {
    const users = Array.from({ length: count }, (_, i) => ({ id: id(i), quota: { bytes: '1GiB' } }));
    tg = await startTidegate({ admin: { listen: '127.0.0.1:0', token: WRITE }, users });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await tg?.stop();
  });

  it('lists every user and renders only the rows in view while scrolling', async () => {
    const page = await signIn(browser, `http://${tg.runtime.adminAddress()}`, WRITE);
    const errors = watchErrors(page);
    await go(page, 'users');
    await page.locator('[data-testid="user-count"]', { hasText: `${count} users` }).waitFor({ timeout: 60_000 });
    const rows = page.locator('[data-testid="user-row"]');
    await page.locator(`[data-testid="user-row"][data-user="${id(0)}"]`).waitFor();
    assert.ok(await rows.count() < 100, `${await rows.count()} rows in the DOM`);
    // Usage bars load for the rows in view.
    await page.locator(`[data-testid="user-row"][data-user="${id(0)}"] [data-testid="usage-text"]`).waitFor();
    const body = page.locator('[data-testid="users-table"]');
    for (const share of [0.25, 0.5, 0.75, 1]) {
      await body.evaluate((el, s) => {
        el.scrollTop = (el.scrollHeight - el.clientHeight) * s;
      }, share);
      const expected = share === 1 ? id(count - 1) : id(Math.floor(count * share));
      await page.locator(`[data-testid="user-row"][data-user="${expected}"]`).waitFor();
      assert.ok(await rows.count() < 100, `${await rows.count()} rows in the DOM at ${share}`);
    }
    await page.locator(`[data-testid="user-row"][data-user="${id(count - 1)}"] [data-testid="usage-text"]`).waitFor();
    await screenshot(page, 'users-10000');
    assert.deepEqual(errors, []);
  });
});
