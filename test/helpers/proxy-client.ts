import type { Socket } from 'node:net';
import { connectTo, readBytes } from './sockets.js';

/** Opens a SOCKS5 CONNECT through the proxy at `port`; resolves with the socket and the reply code. */
export async function socks5Connect(
  port: number, host: string, destPort: number, early?: Buffer,
): Promise<{ socket: Socket; reply: number }> {
  const socket = await connectTo(port);
  socket.write(Buffer.from([0x05, 0x01, 0x00]));
  const choice = await readBytes(socket, 2);
  if (choice[1] !== 0x00) throw new Error(`proxy chose method ${choice[1]}`);
  let addr: Buffer;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) addr = Buffer.from([0x01, ...host.split('.').map(Number)]);
  else addr = Buffer.concat([Buffer.from([0x03, host.length]), Buffer.from(host)]);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(destPort);
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), addr, portBytes, early ?? Buffer.alloc(0)]));
  const reply = await readBytes(socket, 10);
  const rest = reply.subarray(10);
  if (rest.length > 0) socket.unshift(rest);
  return { socket, reply: reply[1]! };
}

/**
 * Sends `CONNECT host:port` (and `early` bytes pipelined in the same write); resolves with the socket and the status
 * line's code (any body is left unread).
 */
export async function httpConnect(
  port: number, target: string, early?: Buffer,
): Promise<{ socket: Socket; status: number; head: string }> {
  const socket = await connectTo(port);
  const request = Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, 'latin1');
  socket.write(early === undefined ? request : Buffer.concat([request, early]));
  let head = '';
  while (!head.includes('\r\n\r\n')) head += (await readBytes(socket, 1)).toString('latin1');
  const end = head.indexOf('\r\n\r\n') + 4;
  if (end < head.length) socket.unshift(Buffer.from(head.slice(end), 'latin1'));
  return { socket, status: Number(head.split(' ')[1]), head: head.slice(0, end) };
}
