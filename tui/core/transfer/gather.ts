import net from 'node:net';
import os from 'node:os';
import type { Candidate } from './candidates.js';
import { type PortMapping, type PortMappingOptions, mapPort } from './port-mapping.js';

/** Which of our own addresses to offer. */
export type LocalCandidatePolicy =
  /** Every non-loopback, non-link-local interface address (the default). */
  | 'interfaces'
  /** 127.0.0.1 only: both peers on one machine (tests, demos). */
  | 'loopback'
  /** None: direct connections only through the mapping or the observed address (or not at all). */
  | 'none';

/** Our interface addresses with the listening port: the `lan` candidates. */
export function localCandidates(port: number, policy: LocalCandidatePolicy, interfaces = os.networkInterfaces()): Candidate[] {
  if (policy === 'none') return [];
  if (policy === 'loopback') return [{ kind: 'loopback', host: '127.0.0.1', port }];
  const out: Candidate[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.internal) continue;
      const lower = info.address.toLowerCase();
      if (lower.startsWith('169.254.') || lower.startsWith('fe80:')) continue; // link-local needs a scope id
      out.push({ kind: 'lan', host: info.address, port });
    }
  }
  return out;
}

/**
 * The public address the relay sees us at, paired with our listening port. Useful when the
 * router keeps source ports (Linux MASQUERADE does) or we are not behind NAT at all.
 */
export function observedCandidate(observedAddress: string | undefined, port: number): Candidate | null {
  if (observedAddress === undefined || net.isIP(observedAddress) === 0) return null;
  return { kind: 'observed', host: observedAddress, port };
}

export interface GatherOptions {
  /** Our listening port for this transfer. */
  port: number;
  policy: LocalCandidatePolicy;
  /** The address the relay observes for our control connection, if it told us. */
  observedAddress?: string;
  /** Port-mapping settings, or `false` to skip mapping. */
  mapping: PortMappingOptions | false;
  /**
   * Called at once with the local candidates (`final` false while a mapping is being tried),
   * then once more, `final`, with the mapped address — or, when no mapping was made, the
   * observed one. Without mapping: once, with both local and observed.
   */
  onCandidates(candidates: Candidate[], final: boolean): void;
}

export interface Gathering {
  /** Resolves when gathering is over (mapping made, failed or timed out). */
  readonly settled: Promise<void>;
  /** Cancels a mapping in progress and removes one that was made. Never throws. */
  release(): Promise<void>;
}

/**
 * Candidate gathering that never blocks: local addresses go out at once; the port mapping
 * runs in the background, bounded by its own timeout, and its result (or the observed
 * address) follows.
 */
export function gatherCandidates(options: GatherOptions): Gathering {
  const immediate = localCandidates(options.port, options.policy);
  const observed = observedCandidate(options.observedAddress, options.port);

  if (options.mapping === false) {
    if (observed !== null && !immediate.some((c) => c.host === observed.host)) immediate.push(observed);
    options.onCandidates(immediate, true);
    return { settled: Promise.resolve(), release: async () => undefined };
  }

  const controller = new AbortController();
  let mapping: PortMapping | null = null;
  let released = false;
  // The observed address waits for the mapping's outcome: dialled before the router forwards
  // the port, a peer's SYN meets the router itself, and the connection-tracking entry that
  // leaves keeps every retransmission of it away from the mapping made a moment later
  // (seen in the NAT lab). If the mapping works it replaces the observed address; if not,
  // the observed address still helps a host with a public address or an open NAT.
  options.onCandidates(immediate, false);
  const mappingOptions = options.mapping;
  const settled = mapPort(options.port, { ...mappingOptions, signal: controller.signal }).then(async (result) => {
    if (released) {
      await result?.release();
      return;
    }
    mapping = result;
    const later: Candidate[] =
      result !== null && net.isIP(result.externalHost) !== 0 ? [{ kind: 'mapped', host: result.externalHost, port: result.externalPort }] : [];
    if (later.length === 0 && observed !== null && !immediate.some((c) => c.host === observed.host)) later.push(observed);
    options.onCandidates(later, true);
  });
  return {
    settled,
    release: async () => {
      released = true;
      controller.abort();
      await settled.catch(() => undefined);
      const made: PortMapping | null = mapping;
      mapping = null;
      await made?.release();
    },
  };
}
