import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { FuzzEnv, FuzzTarget } from '../target.js';

/**
 * SOCKS5 greetings and requests: versions, method lists (empty, 255 long, no "no auth"), commands (BIND, UDP,
 * garbage), address types (IPv4, names of 0/255 bytes, IPv6, unknown), early data, and byte-level mutations of the
 * head. Addresses stay loopback or malformed: the proxy routes through a loopback upstream and never dials out.
 */
export const socks5Target: FuzzTarget = {
  name: 'socks5',
  service: 'proxy',
  generate(rng: Rng, env: FuzzEnv): Buffer {
    if (rng.chance(0.05)) return Buffer.concat([Buffer.from([0x05]), rng.bytes(rng.int(600))]);
    const methods = rng.pick([[0x00], [0x00, 0x02], [0x02], [], Array.from({ length: 255 }, (_, i) => i), [0xff]]);
    const nmethods = rng.chance(0.9) ? methods.length : rng.int(256);
    const greeting = Buffer.from([rng.chance(0.95) ? 0x05 : rng.pick([0x04, 0x00, 0x06, 0xff]), nmethods, ...methods]);
    if (rng.chance(0.1)) return mutate(rng, greeting);
    const port = Buffer.alloc(2);
    port.writeUInt16BE(rng.pick([env.echoPort, env.adminPort, 0, 1, 65535]));
    const atyp = rng.pick([0x01, 0x01, 0x03, 0x03, 0x04, 0x00, 0x02, 0x05, 0xff]);
    let address: Buffer;
    if (atyp === 0x01) address = Buffer.from(rng.pick([[127, 0, 0, 1], [0, 0, 0, 0], [127, 255, 255, 255]]));
    else if (atyp === 0x04) address = Buffer.from([...Array<number>(15).fill(0), 1]);
    else if (atyp === 0x03) {
      const name = Buffer.from(
        rng.pick(['localhost', '', 'a'.repeat(255), 'local\u0000host', '-', '..', 'localhost:80', '[::1]']), 'latin1',
      );
      const declared = rng.chance(0.85) ? Math.min(name.length, 255) : rng.int(256);
      address = Buffer.concat([Buffer.from([declared]), name.subarray(0, 255)]);
    } else address = rng.bytes(rng.int(20));
    let head: Buffer = Buffer.from([
      rng.chance(0.9) ? 0x05 : rng.int(256), rng.pick([0x01, 0x01, 0x01, 0x02, 0x03, 0x00, 0x09]),
      rng.chance(0.9) ? 0x00 : rng.int(256), atyp,
    ]);
    if (rng.chance(0.3)) head = mutate(rng, head);
    const early = rng.chance(0.2) ? rng.bytes(rng.int(rng.chance(0.1) ? 100_000 : 100)) : Buffer.alloc(0);
    let request = Buffer.concat([
      greeting, head, address, rng.chance(0.9) ? port : port.subarray(0, rng.int(2)), early,
    ]);
    if (rng.chance(0.15)) request = request.subarray(0, rng.int(request.length));
    return request;
  },
};
