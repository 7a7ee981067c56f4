import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { Gateway } from '@achingbrain/nat-port-mapper';

/**
 * The library and its dependencies cost about 15 MB of memory once loaded: load them on the
 * first mapping, not with the client (a chat session, or a transfer with mapping off, never needs them).
 */
let natPortMapper: Promise<typeof import('@achingbrain/nat-port-mapper')> | undefined;
const loadNatPortMapper = () => (natPortMapper ??= import('@achingbrain/nat-port-mapper'));

/**
 * A TCP port mapping on the home router, by UPnP-IGD or NAT-PMP, whichever answers first.
 * Wraps `@achingbrain/nat-port-mapper` 4.0.5 around the bugs NATLAB.md lists:
 * - both methods run in parallel under one short AbortSignal timeout, and the whole thing
 *   never throws: no gateway means `null` after at most `timeoutMs`;
 * - `autoRefresh: false` everywhere: the library's refresh timers keep the process alive and
 *   make NAT-PMP `stop()` throw ERR_SOCKET_ALREADY_BOUND; our mapping lives as long as the
 *   transfer and its lease is set long enough for that;
 * - `unmap()` before `stop()`, each under its own timeout, errors swallowed;
 * - UPnP `unmap()` deletes by *internal* port: when the router gave us a different external
 *   port (ours was taken), that would delete someone else's mapping, so we delete ours by
 *   its external port with the library's own SOAP client, and drop the library's record;
 * - the NAT-PMP gateway is an EventEmitter that emits 'error' with no listener for socket
 *   errors (which would crash the process), so one is attached.
 */
export interface PortMappingOptions {
  /** UPnP and NAT-PMP together give up after this many milliseconds. */
  timeoutMs: number;
  /** Requested lease in milliseconds (UPnP rounds up to at least an hour). */
  ttlMs: number;
  /** Shown in the router's mapping list. */
  description?: string;
  /** NAT-PMP gateway address; default: the default route's gateway (Linux), else NAT-PMP is skipped. */
  gatewayAddress?: string;
  /** Try UPnP-IGD (default true). */
  upnp?: boolean;
  /** Try NAT-PMP (default true). */
  natPmp?: boolean;
  signal?: AbortSignal;
  /** Diagnostics (what was tried, what failed); silent by default. */
  log?: (line: string) => void;
}

export interface PortMapping {
  method: 'upnp' | 'nat-pmp';
  /** Public address and port peers can dial. */
  externalHost: string;
  externalPort: number;
  internalHost: string;
  internalPort: number;
  /** Removes the mapping from the router and closes the client; never throws, bounded by the timeout. */
  release(): Promise<void>;
}

const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';

/** The IPv4 default gateway from /proc/net/route (Linux); `null` elsewhere or when there is none. */
export async function defaultGatewayIPv4(routeTable = '/proc/net/route'): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(routeTable, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[1] !== '00000000') continue;
    const hex = fields[2];
    if (!/^[0-9A-Fa-f]{8}$/.test(hex) || hex === '00000000') continue;
    // Little-endian hex: 0100000A is 10.0.0.1.
    const bytes = [6, 4, 2, 0].map((at) => parseInt(hex.slice(at, at + 2), 16));
    return bytes.join('.');
  }
  return null;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

/** Our IPv4 address on the same subnet as `gateway` (the one the router will forward to). */
export function localAddressFacing(gateway: string, interfaces = os.networkInterfaces()): string | null {
  let fallback: string | null = null;
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.family !== 'IPv4' || info.internal || info.address.startsWith('169.254.')) continue;
      fallback ??= info.address;
      const prefix = Number(info.cidr?.split('/')[1] ?? 32);
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      if (((ipv4ToNumber(info.address) & mask) >>> 0) === ((ipv4ToNumber(gateway) & mask) >>> 0)) return info.address;
    }
  }
  return fallback;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function quietly(what: string, log: (line: string) => void, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    log(`${what} failed: ${errorText(error)}`);
  }
}

/** A gateway that answered, ready to map through; `close` stops its client without mapping anything. */
interface FoundGateway {
  method: PortMapping['method'];
  map(): Promise<PortMapping>;
  close(): Promise<void>;
}

async function findUpnp(port: number, options: PortMappingOptions, signal: AbortSignal, log: (line: string) => void): Promise<FoundGateway> {
  const { upnpNat } = await loadNatPortMapper();
  const client = upnpNat({ autoRefresh: false, ttl: options.ttlMs, description: options.description });
  let gateway: Gateway | null = null;
  // Breaking out of the loop ends the SSDP search (the generator's finally stops it).
  for await (const found of client.findGateways({ signal })) {
    gateway = found;
    break;
  }
  if (gateway === null) throw new Error('no UPnP gateway answered');
  const found = gateway;
  const stop = (): Promise<void> => quietly('upnp stop', log, () => found.stop({ signal: AbortSignal.timeout(options.timeoutMs) }));
  return {
    method: 'upnp',
    close: stop,
    map: async () => {
      const internalHost = localAddressFacing(found.host);
      if (internalHost === null) throw new Error('no local IPv4 address');
      const mapped = await found.map(port, internalHost, {
        protocol: 'TCP',
        externalPort: port,
        ttl: options.ttlMs,
        autoRefresh: false,
        description: options.description,
        signal,
      });
      log(`upnp: ${mapped.externalHost}:${mapped.externalPort} -> ${internalHost}:${port} via ${found.host}`);
      return {
        method: 'upnp',
        externalHost: mapped.externalHost,
        externalPort: mapped.externalPort,
        internalHost,
        internalPort: port,
        release: async () => {
          const budget = (): AbortSignal => AbortSignal.timeout(options.timeoutMs);
          if (mapped.externalPort === port) {
            await quietly('upnp unmap', log, () => found.unmap(port, { signal: budget() }));
          } else {
            // The library would delete external port `port`: someone else's mapping (that is
            // why the router gave us another one). Delete ours by its external port, and drop
            // the library's record so stop() does not "unmap" the other one either.
            await quietly('upnp delete', log, () => deleteUpnpMapping(found, mapped.externalPort, budget()));
            forgetUpnpMapping(found, port);
          }
          await stop();
        },
      };
    },
  };
}

/** DeletePortMapping by external port, through the library's own SOAP client (not in its public types). */
async function deleteUpnpMapping(gateway: Gateway, externalPort: number, signal: AbortSignal): Promise<void> {
  const device = (gateway as unknown as { gateway?: { run?: (...args: unknown[]) => Promise<unknown> } }).gateway;
  if (typeof device?.run !== 'function') return;
  await device.run(
    WAN_IP_CONNECTION_2,
    'DeletePortMapping',
    [
      ['NewRemoteHost', ''],
      ['NewExternalPort', externalPort],
      ['NewProtocol', 'TCP'],
    ],
    { signal },
  );
}

/** Removes the library's record of a mapping (a `Map` keyed by internal port; not in its public types). */
function forgetUpnpMapping(gateway: Gateway, internalPort: number): void {
  const mappings = (gateway as unknown as { mappings?: unknown }).mappings;
  if (mappings instanceof Map) {
    for (const entry of mappings.get(internalPort) ?? []) clearTimeout((entry as { refreshTimeout?: ReturnType<typeof setTimeout> }).refreshTimeout);
    mappings.delete(internalPort);
  }
}

/**
 * nat-port-mapper 4 takes UPnP's `ttl` in milliseconds but writes NAT-PMP's straight into the
 * packet as the lifetime in seconds (pmp/gateway.js); passing ms asked routers for an 83-day
 * lease, which would outlive a crashed client by months (seen in miniupnpd's log in the NAT lab).
 */
export function natPmpLifetimeSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

async function findNatPmp(port: number, options: PortMappingOptions, signal: AbortSignal, log: (line: string) => void): Promise<FoundGateway> {
  const gatewayAddress = options.gatewayAddress ?? (await defaultGatewayIPv4());
  if (gatewayAddress === null) throw new Error('no default gateway');
  const internalHost = localAddressFacing(gatewayAddress);
  if (internalHost === null) throw new Error('no local IPv4 address');
  const { pmpNat } = await loadNatPortMapper();
  const gateway = pmpNat(gatewayAddress, { autoRefresh: false, ttl: natPmpLifetimeSeconds(options.ttlMs), description: options.description });
  (gateway as unknown as NodeJS.EventEmitter).on('error', (error: unknown) => log(`nat-pmp socket error: ${errorText(error)}`));
  const stop = (): Promise<void> => quietly('nat-pmp stop', log, () => gateway.stop({ signal: AbortSignal.timeout(options.timeoutMs) }));
  try {
    // The external-address request doubles as "is there a NAT-PMP gateway at all".
    await gateway.externalIp({ signal });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    method: 'nat-pmp',
    close: stop,
    map: async () => {
      const mapped = await gateway.map(port, internalHost, {
        protocol: 'TCP',
        externalPort: port,
        ttl: natPmpLifetimeSeconds(options.ttlMs),
        autoRefresh: false,
        description: options.description,
        signal,
      });
      log(`nat-pmp: ${mapped.externalHost}:${mapped.externalPort} -> ${internalHost}:${port} via ${gatewayAddress}`);
      return {
        method: 'nat-pmp',
        externalHost: mapped.externalHost,
        externalPort: mapped.externalPort,
        internalHost,
        internalPort: port,
        release: async () => {
          await quietly('nat-pmp unmap', log, () => gateway.unmap(port, { signal: AbortSignal.timeout(options.timeoutMs) }));
          await stop();
        },
      };
    },
  };
}

/**
 * Maps TCP `port` on the router. UPnP discovery and a NAT-PMP probe run in parallel and the
 * first gateway to answer makes the mapping (the other method is used only if that fails):
 * when one router speaks both, mapping twice would create one rule that releasing the
 * "loser" would delete. Resolves with the mapping, or `null` when nothing works within
 * `timeoutMs` or `signal` aborts. Never rejects.
 */
export async function mapPort(port: number, options: PortMappingOptions): Promise<PortMapping | null> {
  const log = options.log ?? (() => undefined);
  // Aborted once a mapping is made, so the slower method's search stops at once.
  const settled = new AbortController();
  const signals = [AbortSignal.timeout(options.timeoutMs), settled.signal];
  if (options.signal !== undefined) signals.push(options.signal);
  const signal = AbortSignal.any(signals);

  const finders: Array<Promise<FoundGateway | null>> = [];
  const find = (method: string, run: () => Promise<FoundGateway>): Promise<FoundGateway | null> =>
    run().catch((error: unknown) => {
      log(`${method}: ${settled.signal.aborted ? 'not needed' : signal.aborted ? 'timed out' : errorText(error)}`);
      return null;
    });
  if (options.upnp !== false) finders.push(find('upnp', () => findUpnp(port, options, signal, log)));
  if (options.natPmp !== false) finders.push(find('nat-pmp', () => findNatPmp(port, options, signal, log)));

  // Gateways in the order they answer.
  const arrivals: Array<Promise<FoundGateway | null>> = [];
  const resolvers: Array<(found: FoundGateway | null) => void> = [];
  for (let i = 0; i < finders.length; i++) arrivals.push(new Promise((resolve) => resolvers.push(resolve)));
  let arrived = 0;
  for (const finder of finders) void finder.then((found) => resolvers[arrived++](found));

  let mapping: PortMapping | null = null;
  for (const arrival of arrivals) {
    const found = await arrival;
    if (found === null) continue;
    if (mapping !== null || signal.aborted) {
      await found.close();
      continue;
    }
    try {
      mapping = await found.map();
    } catch (error) {
      log(`${found.method} map: ${signal.aborted ? 'timed out' : errorText(error)}`);
      await found.close();
    }
    if (mapping !== null) {
      // Do not wait for the slower method to finish; close it whenever it does.
      const winner = mapping;
      settled.abort();
      for (const rest of arrivals) void rest.then((other) => (other !== null && other.method !== winner.method ? other.close() : undefined));
      return winner;
    }
  }
  return mapping;
}
