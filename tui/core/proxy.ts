import net from 'node:net';
import { ChatError } from '../../shared/errors.js';

/**
 * The SOCKS5 proxy setting of the client (`--proxy`, SECURECHAT_PROXY): parsing and showing
 * it. Dialling through it is dial.ts's job.
 */

/** The environment variable read when no --proxy is given. */
export const PROXY_ENV = 'SECURECHAT_PROXY';

/** RFC 1929: the user name and the password are each 1-255 bytes. */
const MAX_PROXY_CREDENTIAL_BYTES = 255;

export interface ProxySettings {
  host: string;
  port: number;
  /**
   * true (`socks5h://`, the default): the proxy resolves the relay's name, so no DNS query
   * for it leaves this machine (Tor needs that; a corporate proxy is often the only thing
   * that can resolve outside names). false (`socks5://`): the client resolves the name
   * itself and hands the proxy an address, as curl does for `socks5://`.
   */
  remoteDns: boolean;
  /** RFC 1929 user name/password authentication; absent: no authentication. */
  userId?: string;
  password?: string;
}

/** The input may hold a password: the message never echoes it. */
function usage(problem: string): ChatError {
  return new ChatError('E_USAGE', `--proxy: ${problem} (write socks5h://[USER:PASS@]HOST:PORT or socks5://...)`);
}

function decodeCredential(text: string, what: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    throw usage(`the ${what} is not valid percent-encoding`);
  }
  const bytes = Buffer.byteLength(decoded, 'utf8');
  if (bytes < 1 || bytes > MAX_PROXY_CREDENTIAL_BYTES) throw usage(`the ${what} must be 1-${MAX_PROXY_CREDENTIAL_BYTES} bytes`);
  return decoded;
}

/**
 * Parses `socks5h://[USER:PASS@]HOST:PORT`, `socks5://...`, or a bare `HOST:PORT` (taken as
 * socks5h). User and password are percent-decoded. Throws E_USAGE for anything else: other
 * schemes, a missing or bad port, a path, a query.
 */
export function parseProxyUrl(input: string): ProxySettings {
  const text = input.trim();
  if (text === '') throw usage('the proxy is empty');
  const withScheme = text.includes('://') ? text : `socks5h://${text}`;
  const scheme = withScheme.slice(0, withScheme.indexOf('://')).toLowerCase();
  if (scheme !== 'socks5' && scheme !== 'socks5h') {
    throw usage(`the scheme "${scheme}" is not supported: only SOCKS5 proxies are`);
  }
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw usage('not a proxy address');
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw usage('a proxy address has no path or query');
  }
  const bracketed = /^\[(.*)\]$/.exec(url.hostname);
  const host = bracketed ? bracketed[1] : url.hostname;
  if (host === '' || (bracketed && !net.isIPv6(host))) throw usage('the proxy host is missing');
  if (url.port === '') throw usage('the proxy port is missing');
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage('the proxy port must be 1-65535');
  const settings: ProxySettings = { host: host.toLowerCase(), port, remoteDns: scheme === 'socks5h' };
  if (url.username !== '' || url.password !== '') {
    settings.userId = decodeCredential(url.username, 'user name');
    settings.password = decodeCredential(url.password, 'password');
  }
  return settings;
}

/** The proxy for people and logs: scheme, user, host and port, never the password. */
export function formatProxy(proxy: ProxySettings): string {
  const user = proxy.userId !== undefined ? `${encodeURIComponent(proxy.userId)}@` : '';
  const host = net.isIPv6(proxy.host) ? `[${proxy.host}]` : proxy.host;
  return `${proxy.remoteDns ? 'socks5h' : 'socks5'}://${user}${host}:${proxy.port}`;
}

/**
 * The proxy the command line asks for: `--proxy` wins over SECURECHAT_PROXY; an empty
 * `--proxy ""` turns an inherited SECURECHAT_PROXY off. Throws E_USAGE for a bad value.
 */
export function proxyFromCli(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProxySettings | undefined {
  const value = flag ?? env[PROXY_ENV];
  if (value === undefined || value.trim() === '') return undefined;
  return parseProxyUrl(value);
}
