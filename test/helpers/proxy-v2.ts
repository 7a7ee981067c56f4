/**
 * Builds PROXY protocol v2 headers for tests, byte by byte from the spec (haproxy
 * doc/proxy-protocol.txt 2.2), independently of the parser under test.
 */
import { isIPv4 } from 'node:net';

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

export interface RawHeader {
  /** Byte 13: version (high nibble) and command (low nibble). Default 0x21: v2 PROXY. */
  versionAndCommand?: number;
  /** Byte 14: family (high nibble) and transport (low nibble). */
  familyAndTransport: number;
  /** Address block (and anything else before the TLVs). */
  block?: Buffer;
  /** Appended after the block and counted in the length. */
  tlvs?: Buffer;
  /** Overrides the length field (to forge a wrong one). */
  length?: number;
}

export function rawHeader(header: RawHeader): Buffer {
  const body = Buffer.concat([header.block ?? Buffer.alloc(0), header.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.from([...SIGNATURE, header.versionAndCommand ?? 0x21, header.familyAndTransport, 0, 0]);
  fixed.writeUInt16BE(header.length ?? body.length, 14);
  return Buffer.concat([fixed, body]);
}

/** A PROXY header for TCP over IPv4 or IPv6 (chosen from the source address). */
export function proxyHeaderFor(source: string, sourcePort: number, destination: string, destinationPort: number, tlvs?: Buffer): Buffer {
  const v4 = isIPv4(source);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  const block = Buffer.concat([addressBytes(source), addressBytes(destination), ports]);
  return rawHeader({ familyAndTransport: v4 ? 0x11 : 0x21, block, tlvs });
}

/** A LOCAL header as HAProxy sends it for a health check: 16 bytes, no address. */
export function localHeader(): Buffer {
  return rawHeader({ versionAndCommand: 0x20, familyAndTransport: 0x00 });
}

export function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.from([type, 0, 0]);
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const [head, tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}
