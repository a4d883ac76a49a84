import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channel, withGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';
import { chat } from '../helpers/llm.js';
import { eventually } from '../helpers/wait.js';

interface HealthJson {
  up: boolean;
  checks: number;
  failedChecks: number;
  downs: number;
}

const CHECK = { interval: '50ms', timeout: '500ms', rise: 2, fall: 2 };

describe('gateway: active channel health checks', () => {
  const gw = withGateway({
    upstreams: { p: 'openai', s: 'openai' },
    config: { admin: { listen: '127.0.0.1:0' } },
    gateway: ({ p, s }) => ({
      strategy: 'priority',
      breaker: { consecutiveFailures: 1000, minRequests: 1000 },
      channels: [
        channel(p, { priority: 3, models: ['gpt-4o', 'gpt-*'], health: { ...CHECK, path: '/v1/models' } }),
        channel(s, { priority: 1, health: CHECK }),
      ],
    }),
  });
  const { p, s } = gw.up;
  const health = (name: string): HealthJson => gw.channel(name).health as unknown as HealthJson;
  const chats = (path: string, list: typeof p.requests): number =>
    list.filter((r) => r.method === 'POST' && r.path.startsWith(path)).length;

  it('probes the model list with the channel\'s key; a healthy top channel takes the traffic', async () => {
    await eventually(() => health('p').checks >= 2 && health('s').checks >= 2, 10_000, 'probes run');
    const probe = p.requests.find((r) => r.method === 'GET')!;
    assert.equal(probe.path, '/v1/models');
    assert.equal(probe.headers.authorization, 'Bearer k');
    assert.equal(s.requests.find((r) => r.method === 'GET')!.path, '/v1/models', 'default: the kind\'s model list');
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.headers['x-tidegate-channel'], 'p');
  });

  it('a channel whose checks fail is marked down and requests go elsewhere without trying it', async () => {
    p.behaviour = { kind: 'status', status: 503 };
    await eventually(() => !health('p').up, 10_000, 'p marked down');
    assert.ok(health('p').failedChecks >= 2, 'after fall (2) failed checks');
    const before = chats('/v1/chat', p.requests);
    for (let i = 0; i < 3; i++) {
      const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-tidegate-channel'], 's');
    }
    assert.equal(chats('/v1/chat', p.requests), before, 'the down channel was never tried');
    const metrics = await (await fetch(`http://${gw.runtime.adminAddress()!}/metrics`)).text();
    assert.match(metrics, /tidegate_health_up\{service="llm",kind="channel",name="p"\} 0/);
    assert.match(metrics, /tidegate_health_up\{service="llm",kind="channel",name="s"\} 1/);
    assert.match(metrics, /tidegate_health_checks_total\{service="llm",kind="channel",name="p",result="failed"\} [1-9]/,
      'failed checks counted');

    p.behaviour = { kind: 'ok' };
    await eventually(() => health('p').up, 10_000, 'p back up after rise good checks');
    assert.equal(health('p').downs, 1);
    const r = await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    assert.equal(r.headers['x-tidegate-channel'], 'p');
  });

  it('metrics per channel, model and status class, with client-chosen model names folded into other', async () => {
    await post(`${gw.url}/v1/chat/completions`, chat('gpt-4o'));
    await post(`${gw.url}/v1/chat/completions`, chat('gpt-made-up-1234'));
    const metrics = await (await fetch(`http://${gw.runtime.adminAddress()!}/metrics`)).text();
    const labels = 'service="llm",channel="p",model="gpt-4o",status="2xx"';
    assert.match(metrics, new RegExp(`tidegate_gateway_requests_total\\{${labels}\\} [1-9]`));
    assert.match(metrics, new RegExp(`tidegate_gateway_request_duration_seconds_count\\{${labels}\\} [1-9]`));
    assert.match(metrics, /tidegate_gateway_ttfb_seconds_count\{service="llm",channel="p",model="gpt-4o"\} [1-9]/);
    assert.match(metrics, /tidegate_gateway_requests_total\{service="llm",channel="p",model="other",status="2xx"\} 1/);
    const ours = metrics.split('\n').filter((l) => /^tidegate_gateway_(requests_total|request_duration|ttfb)/.test(l));
    assert.ok(ours.length > 0 && !ours.some((l) => l.includes('made-up')), 'client model names are not label values');
    assert.match(metrics, /tidegate_gateway_breaker_state\{service="llm",channel="p",state="closed"\} 1/);
    assert.match(metrics, /tidegate_gateway_breaker_state\{service="llm",channel="p",state="open"\} 0/);
  });

  it('a reload keeps the check and its state; health: false stops it', async () => {
    const checks = health('p').checks;
    await gw.reload({
      strategy: 'priority',
      channels: [channel(p, { priority: 3, health: { ...CHECK, path: '/v1/models' } }), channel(s, { priority: 1 })],
    });
    assert.ok(health('p').checks >= checks, 'counters carried over');
    assert.equal(gw.channel('s').health, null);
  });
});
