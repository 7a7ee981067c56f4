import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ChatError } from '../shared/errors.js';
import { listenerFingerprint } from '../relay/certs.js';
import { startRelay, type RunningRelay } from '../relay/server.js';

/**
 * The relay `npm start` embeds (start.ts): in `<data dir>/local-relay`, on a wanted port or a
 * free one, with a small `running.json` beside its data while it runs so that a second
 * `npm start` can find and join it instead of failing on the locked folder.
 */
export const LOCAL_RELAY_FOLDER = 'local-relay';
/** Written next to the relay's data while it runs: where a second `npm start` finds it. */
export const LOCAL_RELAY_INFO = 'running.json';
export const DEFAULT_LOCAL_PORT = 7443;

export interface RunningInfo {
  host: string;
  port: number;
  fingerprint: string;
  pid: number;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

export async function readRunningInfo(folder: string): Promise<RunningInfo | null> {
  try {
    const info = JSON.parse(await fs.readFile(path.join(folder, LOCAL_RELAY_INFO), 'utf8')) as Partial<RunningInfo>;
    if (typeof info.host !== 'string' || typeof info.port !== 'number' || typeof info.fingerprint !== 'string') return null;
    return { host: info.host, port: info.port, fingerprint: info.fingerprint, pid: Number(info.pid) };
  } catch {
    return null;
  }
}

/**
 * Whether `port` can be listened on now. Probed with a plain TCP listener before the relay
 * starts, because startRelay opens its database before it listens and does not close it
 * again when the port turns out to be taken.
 */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

export interface LocalRelay {
  relay: RunningRelay;
  /** Set when the wanted port was taken and a free one was used instead. */
  portTaken: boolean;
  /** Stops the relay; other clients still on it are told why. Resolves with how many there were. */
  close(): Promise<number>;
}

/** What `npm start` found: a relay it started, or one already running that it should join. */
export type LocalRelayChoice =
  | { kind: 'started'; local: LocalRelay }
  /** `ownFolder`: another npm start on this data folder runs it (its running.json); else another user's or HOME's npm start. */
  | { kind: 'running'; host: string; port: number; fingerprint: string; ownFolder: boolean };

/**
 * `npm start`'s relay: joins one already running (this data folder's, or another user's on the
 * wanted port: found by a TLS probe, so two users on one machine meet instead of each getting a
 * relay of their own), else starts one (on a free port when the wanted one is taken by
 * something that is not a TLS server).
 */
export async function openLocalRelay(folder: string, host: string, port: number): Promise<LocalRelayChoice> {
  const running = await readRunningInfo(folder);
  if (port !== 0 && !(await portIsFree(host, port))) {
    const fingerprint = await listenerFingerprint(host, port);
    if (fingerprint) {
      const ownFolder = running !== null && running.port === port && running.fingerprint === fingerprint;
      return { kind: 'running', host, port, fingerprint, ownFolder };
    }
  }
  try {
    return { kind: 'started', local: await startLocalRelay(folder, host, port) };
  } catch (error) {
    if (!(error instanceof ChatError && error.code === 'E_DATA_LOCKED')) throw error;
    // Another `npm start` holds this folder (on another port): join its relay.
    const info = await readRunningInfo(folder);
    if (!info) throw error;
    return { kind: 'running', host: info.host, port: info.port, fingerprint: info.fingerprint, ownFolder: true };
  }
}

/**
 * Starts the local relay in `folder`: on `port`, or on a free port if that one is taken.
 * Throws E_DATA_LOCKED when another relay runs on the folder.
 */
export async function startLocalRelay(folder: string, host: string, port: number): Promise<LocalRelay> {
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  const logFile = path.join(folder, 'relay.log');
  // Operator lines go to a file: on the terminal they would be drawn over the TUI.
  const log = (line: string) => {
    void fs.appendFile(logFile, `${new Date().toISOString()} ${line}\n`).catch(() => {});
  };
  const options = { host, dataDir: folder, registration: 'open' as const, log };
  const portTaken = port !== 0 && !(await portIsFree(host, port));
  const relay = await startRelay({ ...options, port: portTaken ? 0 : port });
  const infoFile = path.join(folder, LOCAL_RELAY_INFO);
  const info: RunningInfo = { host: relay.host, port: relay.port, fingerprint: relay.fingerprint, pid: process.pid };
  await fs.writeFile(infoFile, JSON.stringify(info) + '\n', { mode: 0o600 });
  return {
    relay,
    portTaken,
    async close() {
      const others = relay.connectionCount;
      await relay.close('npm start ended', 'the local relay is stopping: the npm start that ran it has quit (run npm start again to run it yourself)');
      await fs.rm(infoFile, { force: true });
      return others;
    },
  };
}

