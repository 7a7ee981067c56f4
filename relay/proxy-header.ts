/**
 * PROXY protocol version 2 header parser (haproxy doc/proxy-protocol.txt, section 2.2): pure,
 * no sockets, no timers. A relay behind HAProxy (`send-proxy-v2`) reads this header before the
 * TLS ClientHello to learn the real client address.
 *
 * Why a hand parser and not `proxy-protocol-js` 4.0.6: the work that matters here is framing,
 * and that library does not do it. Its `V2ProxyProtocol.parse` takes one whole buffer (no
 * "need more bytes" answer, so split reads cannot be told from truncated ones), checks the
 * length field only against the address size and then returns everything after the addresses
 * as `data`, TLVs and the following ClientHello mixed together; it accepts AF_UNIX and DGRAM,
 * has no size cap and throws message-only errors. We would write the framing, the cap and
 * the refusals ourselves anyway; what is left, reading two addresses and two ports, is a
 * dozen lines. The header is a fixed 16-byte part plus a length-prefixed block: small enough
 * to check by hand against the spec, and the tests drive every byte split.
 *
 * Layout (all numbers big-endian):
 *   0..11  signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
 *   12     version (high 4 bits, must be 2) | command (low 4 bits: 0 LOCAL, 1 PROXY)
 *   13     family (high 4 bits: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) | transport (0 UNSPEC, 1 STREAM, 2 DGRAM)
 *   14..15 length of what follows (addresses, then TLVs)
 *   16..   INET: src(4) dst(4) srcport(2) dstport(2); INET6: src(16) dst(16) srcport(2) dstport(2); then TLVs
 */
import { SocketAddress, isIPv4 } from 'node:net';
import { ChatError } from '../shared/errors.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';

/** The 12-byte v2 signature; it contains a NUL, so it never reads as text. */
export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version/command, family/transport, length. */
export const PROXY_V2_FIXED_BYTES = 16;
/** A version 1 (text) header starts with these bytes. */
const PROXY_V1_PREFIX = Buffer.from('PROXY', 'ascii');

/**
 * Why a header was refused; stable, asserted by tests, carried as `details.fault` of an
 * `E_PROXY_HEADER` error.
 * - `bad-signature`: not a PROXY header at all (e.g. a TLS ClientHello sent straight to the relay)
 * - `v1`: a version 1 text header (`PROXY TCP4 ...`); only v2 is accepted
 * - `version`: the v2 signature with a version other than 2
 * - `command`: a command other than LOCAL (0) or PROXY (1)
 * - `family`: an address family other than UNSPEC, INET, INET6 (AF_UNIX is refused: it carries
 *   no IP address to count clients by)
 * - `transport`: INET/INET6 over anything but STREAM (the relay is TCP), or an undefined value
 * - `length-short`: the length field does not cover the addresses of the family
 * - `too-large`: the header would exceed the size cap
 * - `truncated`: the stream ended (or failed) before the header was complete
 */
export type ProxyHeaderFault =
  | 'bad-signature'
  | 'v1'
  | 'version'
  | 'command'
  | 'family'
  | 'transport'
  | 'length-short'
  | 'too-large'
  | 'truncated';

const FAULT_MESSAGES: Record<ProxyHeaderFault, string> = {
  'bad-signature': 'the connection did not start with a PROXY protocol v2 header',
  v1: 'a PROXY protocol version 1 (text) header was sent; only version 2 is accepted (HAProxy: send-proxy-v2)',
  version: 'the PROXY header has a version other than 2',
  command: 'the PROXY header has a command other than LOCAL or PROXY',
  family: 'the PROXY header has an address family other than UNSPEC, INET or INET6',
  transport: 'the PROXY header forwards something other than a TCP stream',
  'length-short': 'the PROXY header length does not cover its addresses',
  'too-large': 'the PROXY header is larger than the limit',
  truncated: 'the connection ended inside the PROXY header',
};

/** The `E_PROXY_HEADER` error for a fault; `details.fault` is the stable reason. */
export function proxyHeaderError(fault: ProxyHeaderFault, details: Record<string, unknown> = {}): ChatError {
  return new ChatError('E_PROXY_HEADER', FAULT_MESSAGES[fault], { fault, ...details });
}

/** One end of the forwarded connection. `address` is canonical (IPv4-mapped IPv6 becomes IPv4). */
export interface ProxyEndpoint {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/**
 * What the header says.
 * - `local`: the proxy's own connection (a health check); use the real socket endpoints.
 * - `proxy` + `unspec`: forwarded, but the proxy does not know the client's address; the
 *   spec lets the receiver use the real endpoints.
 * - `proxy` + `inet`/`inet6`: forwarded for `source`, which connected to `destination`.
 */
export type ProxyHeader =
  | { command: 'local' }
  | { command: 'proxy'; family: 'unspec' }
  | { command: 'proxy'; family: 'inet' | 'inet6'; source: ProxyEndpoint; destination: ProxyEndpoint };

export type ProxyHeaderParse =
  /** Not enough bytes yet; nothing seen so far is wrong. `totalBytes` is known once 16 bytes are in. */
  | { status: 'incomplete'; totalBytes?: number }
  /** `rest` is whatever followed the header in `bytes` (the TLS ClientHello), possibly empty. */
  | { status: 'complete'; header: ProxyHeader; headerBytes: number; rest: Buffer }
  /** `error.code` is `E_PROXY_HEADER`, `error.details.fault` a `ProxyHeaderFault`. */
  | { status: 'refused'; error: ChatError };

/**
 * Parses a PROXY v2 header from the start of `bytes` (everything received so far). Refuses as
 * soon as the bytes in hand prove the header wrong, before waiting for the rest: a wrong first
 * byte is refused at once, a bad version, command, family, transport, length or size as soon as
 * the 16-byte fixed part is in. Addresses are read only once the whole header is in.
 *
 * @param maxHeaderBytes the size cap in bytes, fixed part and TLVs included
 */
export function parseProxyHeader(bytes: Buffer, maxHeaderBytes: number = DEFAULT_LIMITS.proxyHeaderMaxBytes): ProxyHeaderParse {
  const signatureBytes = Math.min(bytes.length, PROXY_V2_SIGNATURE.length);
  if (!bytes.subarray(0, signatureBytes).equals(PROXY_V2_SIGNATURE.subarray(0, signatureBytes))) {
    return refuseNonV2(bytes);
  }
  if (bytes.length < PROXY_V2_FIXED_BYTES) return { status: 'incomplete' };

  const versionAndCommand = bytes[12];
  const version = versionAndCommand >> 4;
  const command = versionAndCommand & 0x0f;
  if (version !== 2) return refused('version', { version });
  if (command !== 0 && command !== 1) return refused('command', { command });

  const blockBytes = bytes.readUInt16BE(14);
  const totalBytes = PROXY_V2_FIXED_BYTES + blockBytes;
  if (totalBytes > maxHeaderBytes) return refused('too-large', { totalBytes, maxHeaderBytes });

  // LOCAL: "the receiver must ... discard the protocol block including the family which is
  // ignored" (spec 2.2), so its family byte is not checked; the length still says what to skip.
  const kind = command === 0 ? LOCAL : addressKind(bytes[13]);
  if ('fault' in kind) return refused(kind.fault, { familyAndTransport: bytes[13] });
  if (blockBytes < kind.addressBytes) return refused('length-short', { blockBytes, addressBytes: kind.addressBytes });

  if (bytes.length < totalBytes) return { status: 'incomplete', totalBytes };
  const rest = bytes.subarray(totalBytes);
  // TLVs (between the addresses and totalBytes) are skipped: nothing in them is needed here.
  return { status: 'complete', header: kind.read(bytes.subarray(PROXY_V2_FIXED_BYTES)), headerBytes: totalBytes, rest };
}

interface AddressKind {
  addressBytes: number;
  read(block: Buffer): ProxyHeader;
}

const LOCAL: AddressKind = { addressBytes: 0, read: () => ({ command: 'local' }) };
const UNSPEC: AddressKind = { addressBytes: 0, read: () => ({ command: 'proxy', family: 'unspec' }) };
const INET = ipKind('inet', 4);
const INET6 = ipKind('inet6', 16);

/** An IP family's address block (spec 2.2): source address, destination address, source port, destination port. */
function ipKind(family: 'inet' | 'inet6', ipBytes: number): AddressKind {
  return {
    addressBytes: 2 * ipBytes + 2 + 2,
    read: (block) => ({
      command: 'proxy',
      family,
      source: endpoint(block.subarray(0, ipBytes), block.readUInt16BE(2 * ipBytes)),
      destination: endpoint(block.subarray(ipBytes, 2 * ipBytes), block.readUInt16BE(2 * ipBytes + 2)),
    }),
  };
}

/** The address kind of a PROXY command's family/transport byte (byte 13), or why it is refused. */
function addressKind(familyAndTransport: number): AddressKind | { fault: ProxyHeaderFault } {
  const family = familyAndTransport >> 4;
  const transport = familyAndTransport & 0x0f;
  // "other values are unspecified ... and must be rejected as invalid by receivers" (both nibbles).
  if (transport > 2) return { fault: 'transport' };
  switch (family) {
    case 0:
      // UNSPEC: "the receiver is free to accept the connection anyway and use the real
      // endpoint addresses"; any address bytes present are skipped like TLVs.
      return UNSPEC;
    case 1:
      return transport === 1 ? INET : { fault: 'transport' };
    case 2:
      return transport === 1 ? INET6 : { fault: 'transport' };
    default:
      // AF_UNIX (3) is a valid family, but a UNIX path is no client address: refused, not
      // collapsed onto the proxy's address. Anything above 3 is invalid per spec.
      return { fault: 'family' };
  }
}

/** Why bytes that do not start with the v2 signature are refused, or that more are needed. */
function refuseNonV2(bytes: Buffer): ProxyHeaderParse {
  const v1Bytes = Math.min(bytes.length, PROXY_V1_PREFIX.length);
  if (bytes.subarray(0, v1Bytes).equals(PROXY_V1_PREFIX.subarray(0, v1Bytes))) {
    // "PROX" could still become "PROXY": wait for the fifth byte to name the refusal right.
    return v1Bytes < PROXY_V1_PREFIX.length ? { status: 'incomplete' } : refused('v1');
  }
  return refused('bad-signature');
}

function refused(fault: ProxyHeaderFault, details: Record<string, unknown> = {}): ProxyHeaderParse {
  return { status: 'refused', error: proxyHeaderError(fault, details) };
}

function endpoint(addressBytes: Buffer, port: number): ProxyEndpoint {
  if (addressBytes.length === 4) return { address: addressBytes.join('.'), port, family: 'IPv4' };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(addressBytes.readUInt16BE(i).toString(16));
  const address = canonicalAddress(groups.join(':'));
  return { address, port, family: isIPv4(address) ? 'IPv4' : 'IPv6' };
}

/**
 * One spelling per address, so that counting and comparing by address works: IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, what a dual-stack listener reports for an IPv4 peer) becomes `1.2.3.4`,
 * IPv6 is compressed the way the OS prints it (`2001:db8::1`). Not an IP: returned unchanged.
 */
export function canonicalAddress(address: string): string {
  let canonical: string;
  try {
    canonical = new SocketAddress({ address, family: isIPv4(address) ? 'ipv4' : 'ipv6' }).address;
  } catch {
    return address;
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(canonical);
  return mapped ? mapped[1] : canonical;
}

/**
 * Streaming front of `parseProxyHeader`: feed it each chunk read from the socket until it
 * answers `complete` or `refused`. It holds at most one header's worth of bytes plus the last
 * chunk, because the size cap is checked from the fixed part before more is buffered.
 */
export class ProxyHeaderReader {
  private buffered: Buffer = Buffer.alloc(0);
  private result: ProxyHeaderParse = { status: 'incomplete' };

  /** @param maxHeaderBytes the size cap in bytes (default `DEFAULT_LIMITS.proxyHeaderMaxBytes`) */
  constructor(private readonly maxHeaderBytes: number = DEFAULT_LIMITS.proxyHeaderMaxBytes) {}

  /** Adds a chunk; once the answer is `complete` or `refused`, later chunks do not change it. */
  push(chunk: Buffer): ProxyHeaderParse {
    if (this.result.status !== 'incomplete') return this.result;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.result = parseProxyHeader(this.buffered, this.maxHeaderBytes);
    if (this.result.status !== 'incomplete') this.buffered = Buffer.alloc(0);
    return this.result;
  }

  /** Bytes held while the header is incomplete. */
  get bufferedBytes(): number {
    return this.buffered.length;
  }

  /**
   * The stream ended: a header still incomplete is `truncated` (the spec: "reject incoming
   * connections containing partial protocol headers"); a finished answer stays as it was.
   */
  end(): ProxyHeaderParse {
    if (this.result.status === 'incomplete') {
      this.result = refused('truncated', { receivedBytes: this.buffered.length });
      this.buffered = Buffer.alloc(0);
    }
    return this.result;
  }
}
