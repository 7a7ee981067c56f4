import net from 'node:net';
import { ChatError } from '../../shared/errors.js';

/** The relay's default port. */
export const DEFAULT_PORT = 7443;
/** Where `securechat` connects without `--server`: the embedded default relay. */
export const DEFAULT_SERVER = `localhost:${DEFAULT_PORT}`;

export interface ServerAddress {
  host: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `HOST` (default port), `[v6]:PORT` or a bare IPv6 address.
 * Throws E_USAGE for anything else.
 */
export function parseServerAddress(input: string, defaultPort: number = DEFAULT_PORT): ServerAddress {
  const text = input.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
    if (net.isIPv6(host) === false) throw new ChatError('E_USAGE', `"${input}" is not HOST:PORT`);
  } else if (net.isIPv6(text)) {
    host = text;
  } else {
    const parts = text.split(':');
    if (parts.length > 2) throw new ChatError('E_USAGE', `"${input}" is not HOST:PORT (write IPv6 as [ADDR]:PORT)`);
    host = parts[0];
    portText = parts[1];
  }
  if (host === '' || /[\s/]/.test(host)) throw new ChatError('E_USAGE', `"${input}" is not HOST:PORT`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw new ChatError('E_USAGE', `"${input}": the port must be a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw new ChatError('E_USAGE', `"${input}": the port must be 1-65535`);
  }
  return { host, port };
}

/** `host:port`, with IPv6 in brackets; the host lowercased (DNS names are case-insensitive). */
export function formatServerAddress(address: ServerAddress): string {
  const host = address.host.toLowerCase();
  return net.isIPv6(host) ? `[${host}]:${address.port}` : `${host}:${address.port}`;
}
