import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, constants } from 'node:fs/promises';
import net from 'node:net';

/** Where Debian's `microsocks` package installs the SOCKS5 server. */
export const MICROSOCKS = process.env.MICROSOCKS ?? '/usr/bin/microsocks';

export interface SocksProxyOptions {
  /** Outgoing connections leave from this address (microsocks -b), so the relay sees it. */
  bindAddress?: string;
  /** RFC 1929 user name and password the proxy requires (microsocks -u / -P). */
  user?: string;
  password?: string;
}

export interface RunningSocksProxy {
  port: number;
  /** Stops this proxy (by its PID) and waits until it is gone. */
  stop(): Promise<void>;
}

/** Why microsocks cannot run here, or null when it can. */
export async function microsocksMissing(): Promise<string | null> {
  try {
    await access(MICROSOCKS, constants.X_OK);
    return null;
  } catch {
    return `${MICROSOCKS} is not installed (Debian package microsocks)`;
  }
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects if `child` exits first or `deadlineMs` passes. */
async function acceptsConnections(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`microsocks exited (${child.exitCode ?? child.signalCode}) before listening`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`microsocks did not listen on ${port} within ${deadlineMs} ms`);
    // Connection refused: the process is still starting; the next attempt is the next event.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Starts microsocks on a free loopback port. */
export async function startMicrosocks(options: SocksProxyOptions = {}): Promise<RunningSocksProxy> {
  const port = await freeLoopbackPort();
  const args = ['-i', '127.0.0.1', '-p', String(port)];
  if (options.bindAddress !== undefined) args.push('-b', options.bindAddress);
  if (options.user !== undefined) args.push('-u', options.user, '-P', options.password ?? '');
  const child = spawn(MICROSOCKS, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.resume();
  const exited = once(child, 'exit');
  try {
    await acceptsConnections(port, child, 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
