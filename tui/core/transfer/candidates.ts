import net from 'node:net';
import { ChatError } from '../../../shared/errors.js';

/**
 * Candidate addresses one peer offers the other for a direct TCP connection. They travel
 * end-to-end encrypted through the relay, and a malicious peer can put anything in them, so
 * they are validated here before any of them is dialled.
 */
export type CandidateKind =
  /** An address of one of our own interfaces (a home LAN, a VPN, a public IPv6). */
  | 'lan'
  /** The external address of a UPnP / NAT-PMP mapping on our router. */
  | 'mapped'
  /** The public address the relay sees us connect from, with our listening port. */
  | 'observed'
  /** 127.0.0.1 / ::1: only when both peers are on one machine (tests, demos). */
  | 'loopback';

export interface Candidate {
  kind: CandidateKind;
  /** An IP literal, never a host name (no DNS lookups on a peer's say-so). */
  host: string;
  port: number;
}

/** How a connection reached the peer, as shown by `/transfers`. */
export type PathKind = 'lan' | 'direct' | 'relay';

export const CANDIDATE_KINDS: readonly CandidateKind[] = ['lan', 'mapped', 'observed', 'loopback'];

/** `lan` for addresses that stay on this network, `direct` for ones that cross the internet. */
export function pathOfCandidate(candidate: Candidate): PathKind {
  return candidate.kind === 'lan' || candidate.kind === 'loopback' ? 'lan' : 'direct';
}

export function candidateKey(candidate: Pick<Candidate, 'host' | 'port'>): string {
  return net.isIPv6(candidate.host) ? `[${candidate.host.toLowerCase()}]:${candidate.port}` : `${candidate.host}:${candidate.port}`;
}

export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || /^127\./.test(host) || /^::ffff:127\./i.test(host);
}

/** Addresses no one should be asked to dial: unspecified, broadcast, multicast. */
function isUndialable(host: string): boolean {
  if (net.isIPv4(host)) {
    const first = Number(host.split('.')[0]);
    return host === '0.0.0.0' || host === '255.255.255.255' || (first >= 224 && first <= 239);
  }
  const lower = host.toLowerCase();
  return lower === '::' || lower.startsWith('ff');
}

export interface CandidateCheckOptions {
  /** Accept 127.0.0.1 / ::1 (tests on one machine). Off by default: a peer must not make us dial our own services. */
  allowLoopback?: boolean;
  maxCandidates: number;
}

/**
 * Validates a peer's candidate list: IP literals only, ports 1-65535, no unspecified,
 * broadcast or multicast address, loopback only when allowed, duplicates dropped.
 * Throws `ChatError('E_PROTOCOL')` for a malformed list.
 */
export function checkCandidates(value: unknown, options: CandidateCheckOptions): Candidate[] {
  if (!Array.isArray(value)) throw new ChatError('E_PROTOCOL', 'candidates must be a list');
  if (value.length > options.maxCandidates) {
    throw new ChatError('E_PROTOCOL', `more than ${options.maxCandidates} candidates`);
  }
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const item of value) {
    if (item === null || typeof item !== 'object') throw new ChatError('E_PROTOCOL', 'a candidate is not an object');
    const { kind, host, port } = item as Record<string, unknown>;
    if (typeof kind !== 'string' || !CANDIDATE_KINDS.includes(kind as CandidateKind)) {
      throw new ChatError('E_PROTOCOL', 'unknown candidate kind');
    }
    if (typeof host !== 'string' || net.isIP(host) === 0) throw new ChatError('E_PROTOCOL', 'a candidate host is not an IP address');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ChatError('E_PROTOCOL', 'a candidate port is out of range');
    }
    if (isUndialable(host)) continue;
    if (isLoopbackAddress(host) && options.allowLoopback !== true) continue;
    const candidate: Candidate = { kind: kind as CandidateKind, host, port };
    const key = candidateKey(candidate);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(candidate);
  }
  return out;
}
