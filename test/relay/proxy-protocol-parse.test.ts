import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeProxyHeader } from '../../src/origin/proxy-protocol/encode.js';
import { parseProxyHeader, PP_MORE, ProxyHeader, V2_SIGNATURE } from '../../src/origin/proxy-protocol/parse.js';

function header(buf: Buffer): ProxyHeader {
  const out = parseProxyHeader(buf);
  assert.ok(out instanceof ProxyHeader, `expected a header, got ${JSON.stringify(out)}`);
  return out;
}

function malformed(buf: Buffer): string {
  const out = parseProxyHeader(buf);
  assert.ok(typeof out === 'object' && 'malformed' in out, `expected malformed, got ${JSON.stringify(out)}`);
  return out.malformed;
}

function v2(verCmd: number, famProto: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = verCmd;
  head[13] = famProto;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

describe('PROXY protocol: parsing', () => {
  it('reads a v1 TCP4 line and says where the client data starts', () => {
    const h = header(Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /'));
    assert.deepEqual(
      [h.version, h.sourceAddress, h.sourcePort, h.destinationAddress, h.destinationPort, h.length],
      [1, '192.0.2.1', 56324, '198.51.100.2', 443, 45],
    );
  });

  it('reads v1 TCP6 and UNKNOWN', () => {
    const h = header(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n'));
    assert.equal(h.sourceAddress, '2001:db8::1');
    assert.equal(header(Buffer.from('PROXY UNKNOWN\r\n')).sourceAddress, null);
    assert.equal(header(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).sourceAddress, null);
  });

  it('asks for more until a header is complete, byte by byte', () => {
    for (const whole of [
      encodeProxyHeader('v1', '10.1.2.3', 4000, '127.0.0.1', 80),
      encodeProxyHeader('v2', '10.1.2.3', 4000, '127.0.0.1', 80),
      encodeProxyHeader('v2', '2001:db8::7', 4000, '::1', 80),
    ]) {
      for (let n = 0; n < whole.length; n++) assert.equal(parseProxyHeader(whole.subarray(0, n)), PP_MORE, `${n}`);
      assert.equal(header(whole).length, whole.length);
    }
  });

  it('reads back what the encoder writes, v1 and v2, both families and 4-in-6', () => {
    const cases: [string, string, string][] = [
      ['10.1.2.3', '127.0.0.1', '10.1.2.3'],
      ['::ffff:10.1.2.3', '::ffff:127.0.0.1', '10.1.2.3'],
      ['2001:db8::7', '::1', '2001:db8::7'],
      ['10.1.2.3', '::1', '::ffff:10.1.2.3'],
    ];
    for (const version of ['v1', 'v2'] as const) {
      for (const [src, dst, seen] of cases) {
        const h = header(encodeProxyHeader(version, src, 65535, dst, 1));
        assert.equal(h.sourceAddress, seen, `${version} ${src}`);
        assert.equal(h.sourcePort, 65535);
        assert.equal(h.destinationPort, 1);
      }
    }
  });

  it('v2 LOCAL and AF_UNSPEC keep the connection\'s own address; TLVs are skipped', () => {
    assert.equal(header(v2(0x20, 0x00, Buffer.alloc(0))).sourceAddress, null);
    assert.equal(header(v2(0x21, 0x00, Buffer.alloc(4))).sourceAddress, null);
    const withTlv = v2(0x21, 0x11, Buffer.from([10, 0, 0, 9, 127, 0, 0, 1, 0, 80, 0, 81, 0x04, 0x00, 0x01, 0x00]));
    const h = header(Buffer.concat([withTlv, Buffer.from('data')]));
    assert.equal(h.sourceAddress, '10.0.0.9');
    assert.equal(h.length, withTlv.length);
  });

  it('refuses malformed input, saying what was wrong', () => {
    assert.match(malformed(Buffer.from('GET / HTTP/1.1\r\n')), /expected a PROXY protocol header/);
    assert.match(malformed(Buffer.from('PROXZ')), /"PROXY "/);
    assert.match(malformed(Buffer.from('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n')), /TCP4, TCP6 or UNKNOWN/);
    assert.match(malformed(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n')), /5 fields/);
    assert.match(malformed(Buffer.from('PROXY TCP4 1.2.3.400 1.2.3.4 1 2\r\n')), /TCP4 addresses/);
    assert.match(malformed(Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')), /TCP4 addresses/);
    assert.match(malformed(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n')), /ports/);
    assert.match(malformed(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n')), /ports/);
    assert.match(malformed(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n')), /CRLF/);
    assert.match(malformed(Buffer.from(`PROXY ${'x'.repeat(120)}`)), /within 107 bytes/);
    assert.match(malformed(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])), /v2 signature/);
    assert.match(malformed(v2(0x11, 0x11, Buffer.alloc(12))), /version 2/);
    assert.match(malformed(v2(0x22, 0x11, Buffer.alloc(12))), /LOCAL or PROXY/);
    assert.match(malformed(v2(0x21, 0x11, Buffer.alloc(8))), /12 address bytes/);
    assert.match(malformed(v2(0x21, 0x21, Buffer.alloc(12))), /36 address bytes/);
    assert.match(malformed(v2(0x21, 0x41, Buffer.alloc(12))), /family/);
    assert.match(malformed(v2(0x21, 0x11, Buffer.alloc(1000))), /at most/);
  });

  it('never throws on random bytes', () => {
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      const n = (seed = (seed * 1103515245 + 12345) >>> 0) % 120;
      const buf = Buffer.alloc(n);
      for (let j = 0; j < n; j++) buf[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (i % 3 === 0 && n > 16) V2_SIGNATURE.copy(buf);
      if (i % 3 === 1 && n > 6) buf.write('PROXY ');
      parseProxyHeader(buf);
    }
  });
});
