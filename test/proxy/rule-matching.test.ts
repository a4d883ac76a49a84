import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentToConfig } from '../../src/config/load.js';
import type { ProxyRuleConfig, ProxyServiceConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { ProxyRouter, presetRules } from '../../src/relay/proxy/router.js';
import { DomainSet } from '../../src/relay/proxy/rules/domain-set.js';
import { parseRuleSet, type RuleSetData } from '../../src/relay/proxy/rules/rule-set-file.js';
import { NO_MATCH, RouteQuery, RuleTable } from '../../src/relay/proxy/rules/rule-table.js';
import { parseIp } from '../../src/util/ip.js';

function configIssues(service: Record<string, unknown>): string[] {
  try {
    documentToConfig({ services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:1080', ...service }] }, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

function proxyConfig(service: Record<string, unknown>): ProxyServiceConfig {
  const doc = { services: [{ name: 'px', type: 'proxy', listen: '127.0.0.1:1080', ...service }] };
  return documentToConfig(doc, 'test').services[0] as ProxyServiceConfig;
}

/** The rule index a table picks for an IP literal or a name (names never resolved here: address rules skip them). */
function pick(table: RuleTable, host: string, port = 443): number {
  const key = parseIp(host);
  const q = new RouteQuery(key === null ? host : null, port, key === null ? null : host, key);
  let rule = table.evaluate(q);
  if (rule < NO_MATCH) {
    q.resolved = true;
    q.countryKnown = true;
    rule = table.evaluate(q);
  }
  return rule;
}

const rule = (match: Record<string, string[]>, action: ProxyRuleConfig['action'] = 'direct'): ProxyRuleConfig => {
  const [kind, values] = Object.entries(match)[0]!;
  return { match: { kind: kind as ProxyRuleConfig['match']['kind'], values: values! }, action };
};

describe('proxy rule matching', () => {
  it('full names, suffixes at label boundaries and keywords, the lowest rule index winning', () => {
    const set = new DomainSet();
    set.addFull('exact.example.com', 3);
    set.addSuffix('example.com', 5);
    set.addKeyword('track', 1);
    set.addSuffix('Example.ORG.', 2);
    assert.equal(set.match('exact.example.com'), 3);
    assert.equal(set.match('a.exact.example.com'), 5, 'full: matches the name only; the suffix takes subdomains');
    assert.equal(set.match('example.com'), 5);
    assert.equal(set.match('badexample.com'), -1);
    assert.equal(set.match('tracker.example.com'), 1, 'the keyword rule is earlier');
    assert.equal(set.match('www.example.org'), 2, 'entries are normalized: case and a trailing dot');
    assert.equal(set.match('org'), -1);
    // Many keywords: answers are remembered per name, and still combine with earlier suffix rules.
    const many = new DomainSet();
    many.addSuffix('early.test', 0);
    for (let i = 0; i < 40; i++) many.addKeyword(`kw${i}x`, i + 1);
    for (let round = 0; round < 2; round++) {
      assert.equal(many.match('a.kw7x.net'), 8);
      assert.equal(many.match('kw3x.early.test'), 0);
      assert.equal(many.match('plain.net'), -1);
    }
  });

  it('first match wins across domain, CIDR (v4, v6, mapped), port and rule-set rules', () => {
    const sets = new Map<string, RuleSetData>([
      ['cn', parseRuleSet('1.0.1.0/24\n2001:250::/35\nbaidu.com\n', 'cn.txt', 'auto')],
    ]);
    const table = new RuleTable([
      rule({ domain: ['a.test'] }, 'reject'),
      rule({ ip: ['10.0.0.0/8', 'fd00::/8'] }, 'upstream'),
      rule({ port: ['22', '8000-8080'] }, 'reject'),
      rule({ ruleSet: ['cn'] }, 'direct'),
      rule({ domainSuffix: ['a.test'] }, 'upstream'),
      rule({ ruleSet: ['missing'] }, 'reject'),
      rule({ ip: ['11.0.0.0/8'] }, 'upstream'),
      rule({ ip: ['11.1.0.0/16'] }, 'upstream'),
      rule({ ip: ['11.2.0.0/16'] }, 'direct'),
    ], sets);
    assert.equal(pick(table, '11.1.2.3', 80), 6, 'consecutive ip rules with one action: one table, the rule reported');
    assert.equal(pick(table, '11.2.2.3', 80), 6);
    assert.equal(table.actions[6], 'upstream');
    assert.equal(pick(table, 'a.test'), 0);
    assert.equal(pick(table, 'b.a.test'), 4);
    assert.equal(pick(table, '10.1.2.3'), 1);
    assert.equal(pick(table, '::ffff:10.1.2.3'), 1, 'an IPv4-mapped address is its IPv4 address');
    assert.equal(pick(table, 'fd12::1'), 1);
    assert.equal(pick(table, 'fe80::1'), NO_MATCH);
    assert.equal(pick(table, '11.0.0.1', 22), 2);
    assert.equal(pick(table, '11.0.0.1', 8080), 2);
    assert.equal(pick(table, '12.0.0.1', 8081), NO_MATCH);
    assert.equal(pick(table, '1.0.1.200'), 3);
    assert.equal(pick(table, '2001:250:1fff::1'), 3);
    assert.equal(pick(table, '2001:250:2000::1'), NO_MATCH);
    assert.equal(pick(table, 'www.baidu.com'), 3);
    assert.equal(table.actions[3], 'direct');
  });

  it('reads domain, CIDR, v2ray and mixed rule-set files; refuses regexp: and bad lines by line number', () => {
    const v2 = parseRuleSet('domain:a.cn\nfull:b.cn @cn\nkeyword:ads\n# comment\n\nc.cn\n', 'v2.txt', 'v2ray');
    assert.equal(v2.entries, 4);
    assert.equal(v2.domains.match('x.a.cn'), 0);
    assert.equal(v2.domains.match('x.b.cn'), -1);
    assert.equal(v2.domains.match('b.cn'), 0);
    assert.equal(v2.domains.match('myads.net'), 0);
    const plain = parseRuleSet('+.d.cn\n.e.cn\nf.cn\n', 'd.txt', 'domains');
    for (const name of ['d.cn', 'x.e.cn', 'f.cn']) assert.equal(plain.domains.match(name), 0, name);
    const cidrs = parseRuleSet('1.0.1.0/24\n1.0.2.0/23 # comment\n', 'cn.txt', 'cidrs');
    assert.equal(cidrs.ranges.size, 1, 'adjacent ranges merge');
    assert.throws(() => parseRuleSet('a.cn\nregexp:^b\n', 'r.txt', 'v2ray'), /r\.txt: line 2: regexp: rules are not/);
    assert.throws(() => parseRuleSet('1.0.0.0/33\n', 'c.txt', 'cidrs'), /c\.txt: line 1: expected a prefix length/);
    assert.throws(() => parseRuleSet('a b\n', 'd.txt', 'domains'), /d\.txt: line 1: expected a domain name/);
    assert.throws(() => parseRuleSet('geosite:cn\n', 'e.txt', 'auto'), /unknown prefix "geosite:"/);
  });

  it('presets expand to rules: bypass_cn = CN direct, other countries upstream, private direct', async () => {
    const config = proxyConfig({ routing: 'bypass_cn', upstream: 'socks5://127.0.0.1:1' });
    const preset = presetRules(config);
    assert.deepEqual(preset.rules.map((r) => [r.match.kind, r.match.values[0], r.action]), [
      ['geoip', 'CN', 'direct'], ['geoip', '*', 'upstream'], ['ip', '0.0.0.0/8', 'direct'],
    ]);
    assert.equal(preset.final, 'upstream');
    // Without a GeoIP resolver no country is known: private addresses direct, the rest upstream.
    const router = new ProxyRouter(config, null);
    assert.equal((await router.decide('192.168.1.1', 80)).via, 'direct');
    assert.equal((await router.decide('8.8.8.8', 80)).via, 'upstream');
    // The service's own rules come first; `final` replaces the preset's.
    const ruled = new ProxyRouter(proxyConfig({
      routing: 'bypass_cn', upstream: 'socks5://127.0.0.1:1', final: 'reject',
      rules: [{ match: { ip: '8.8.8.0/24' }, action: 'direct' }, { match: { port: 25 }, action: 'reject' }],
    }), null);
    assert.deepEqual(await ruled.decide('8.8.8.8', 53), {
      via: 'direct', address: '8.8.8.8', country: null, rule: 0, upstream: null,
    });
    assert.equal((await ruled.decide('192.168.1.1', 25)).via, 'reject');
    assert.equal((await ruled.decide('192.168.1.1', 80)).via, 'direct');
    const rest = await ruled.decide('9.9.9.9', 80);
    assert.deepEqual([rest.via, rest.rule], ['reject', -1], 'no rule (no country is known), so final');
    // Today's configs keep their meaning.
    assert.equal(presetRules(proxyConfig({ routing: 'direct' })).final, 'direct');
    assert.equal(presetRules(proxyConfig({ routing: 'upstream', upstream: 'http://127.0.0.1:1' })).final, 'upstream');
  });

  it('config errors name their paths', () => {
    const found = configIssues({
      routing: 'direct',
      ruleSets: [{ name: 'a', file: '/x' }, { name: 'a', file: '/y', format: 'yaml' }],
      rules: [
        { match: { domain: 'a b' }, action: 'direct' },
        { match: { ip: '10.0.0.0/40' }, action: 'reject' },
        { match: { port: [80, '9-1'] }, action: 'reject' },
        { match: { geoip: 'china' }, action: 'direct' },
        { match: { ruleSet: 'nope' }, action: 'direct' },
        { match: { domain: 'a.test', port: 80 }, action: 'direct' },
        { match: { domain: 'b.test' }, action: 'upstream' },
        { match: { domain: 'c.test' }, action: 'proxy' },
      ],
      final: 'upstream',
    });
    const expect = [
      'services[0].ruleSets[1].name: rule set "a" is defined twice',
      'services[0].ruleSets[1].format: expected one of "domains", "cidrs", "v2ray", "auto", got "yaml"',
      'services[0].rules[0].match.domain: expected a domain name, got "a b"',
      'services[0].rules[1].match.ip: expected a prefix length 0-32 after "/", got "10.0.0.0/40"',
      'services[0].rules[2].match.port[1]: expected a port 1-65535 or a range "lo-hi", got "9-1"',
      'services[0].rules[3].match.geoip: expected a two-letter country code, got "china"',
      'services[0].rules[4].match.ruleSet: no rule set named "nope" (ruleSets: a)',
      'services[0].rules[5].match: expected exactly one of: '
        + 'domain, domainSuffix, domainKeyword, ip, geoip, port, ruleSet',
      'services[0].rules[7].action: expected one of "direct", "reject", "upstream", got "proxy"',
    ];
    for (const line of expect) assert.ok(found.includes(line), `${line}\n--- got:\n${found.join('\n')}`);
    assert.ok(found.some((f) => f.startsWith('services[0].rules[6].action: "upstream" needs the service\'s upstream')));
    assert.ok(found.some((f) => f.startsWith('services[0].final: "upstream" needs')), found.join('\n'));
  });
});
