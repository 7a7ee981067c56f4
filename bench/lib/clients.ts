/**
 * The two kinds of load client, behind one small interface: a real securechat client (the
 * exported client core, ChatClient) for the relay, and a bare TLS framing client for the
 * baseline. A scenario drives either the same way.
 */
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Limits } from '../../shared/limits.js';
import { ChatClient, type ChatClientOptions } from '../../tui/core/index.js';
import { FrameDecoder, decodeControlPayload, encodeControl } from '../../shared/codec.js';

export type Target = 'relay' | 'baseline';

export interface LoadClient {
  readonly name: string;
  /** Connects (and, for the relay, registers or logs in and enters `room` when given). */
  connect(): Promise<void>;
  /** Sends a room message; resolves when acknowledged (relay: `ack`; baseline: its echo). */
  send(text: string): Promise<void>;
  /** Room messages from others: sender name and text. */
  onText(listener: (from: string, text: string) => void): void;
  close(): Promise<void>;
}

export interface LoadClientSpec {
  target: Target;
  port: number;
  fingerprint: string;
  /**
   * A temp folder for the client core's files: `config/` (known relays; unused, the relay is
   * pinned) and `data/` (each user's identity keys and whisper state). Never the user's own.
   */
  clientDir: string;
  name: string;
  password: string;
  /** Register the account (true) or log in to an existing one. */
  register: boolean;
  /** A chatroom to enter after login (made if it does not exist); the global room when absent. */
  room?: string;
  /** Extra client-core options (reconnect policy, limits). */
  clientOptions?: Partial<ChatClientOptions>;
}

export const BENCH_PASSWORD = 'bench-password-1';

/** The flood limits of the bench relays (lib/context.ts BENCH_LIMITS), which the client core paces itself to. */
export const BENCH_CLIENT_LIMITS: Partial<Limits> = { messagesPerSecond: 1_000_000, messageBurst: 1_000_000 };

export function createLoadClient(spec: LoadClientSpec): LoadClient {
  return spec.target === 'relay' ? new RelayLoadClient(spec) : new BaselineLoadClient(spec);
}

/** The real client core. */
export class RelayLoadClient implements LoadClient {
  readonly client: ChatClient;

  constructor(private readonly spec: LoadClientSpec) {
    this.client = new ChatClient({
      host: '127.0.0.1',
      port: spec.port,
      user: spec.name,
      password: spec.password,
      register: spec.register,
      trust: { fingerprint: spec.fingerprint },
      configDir: join(spec.clientDir, 'config'),
      dataDir: join(spec.clientDir, 'data'),
      reconnect: false,
      ...spec.clientOptions,
      // The client paces itself to the relay's flood limit; the bench relay's is raised (BENCH_LIMITS), so is this.
      limits: { ...BENCH_CLIENT_LIMITS, ...spec.clientOptions?.limits },
    });
  }

  get name(): string {
    return this.spec.name;
  }

  async connect(): Promise<void> {
    await this.client.connect();
    if (this.spec.room) await enterRoom(this.client, this.spec.room);
  }

  async send(text: string): Promise<void> {
    await this.client.say(text);
  }

  onText(listener: (from: string, text: string) => void): void {
    this.client.on('message', (m) => {
      if (!m.own) listener(m.from, m.text);
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Joins a chatroom, creating it when nobody has yet (and joining when another client just did). */
export async function enterRoom(client: ChatClient, room: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await client.join(room);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'E_NO_SUCH_ROOM') throw error;
    }
    try {
      await client.create(room);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'E_ROOM_EXISTS') throw error;
    }
  }
  throw new Error(`could not enter room ${room}`);
}

/** A bare framing client for the baseline: frames out, frames in, JSON.parse and nothing else. */
export class BaselineLoadClient implements LoadClient {
  private socket: TLSSocket | undefined;
  private readonly listeners: Array<(from: string, text: string) => void> = [];
  /** Sends waiting for their echo, oldest first (the baseline keeps each sender's order). */
  private readonly awaitingEcho: Array<() => void> = [];
  private seq = 0;

  constructor(private readonly spec: LoadClientSpec) {}

  get name(): string {
    return this.spec.name;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: this.spec.port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
      socket.setNoDelay(true);
      // Connected once the baseline's welcome frame arrives: from then on it forwards to us.
      let welcomed = false;
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('the baseline closed the connection')));
      const decoder = new FrameDecoder(64 * 1024);
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          const message = decodeControlPayload(frame.payload) as { t?: string; from?: string; text?: string };
          if (!welcomed && message.t === 'welcome') {
            welcomed = true;
            socket.off('error', reject);
            socket.on('error', () => {});
            this.socket = socket;
            resolve();
          } else if (message.from === this.spec.name) this.awaitingEcho.shift()?.();
          else if (typeof message.from === 'string' && typeof message.text === 'string') {
            for (const listener of this.listeners) listener(message.from, message.text);
          }
        }
      });
    });
  }

  send(text: string): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error('not connected'));
    this.seq += 1;
    // Shaped like the relay's `message` frame, so both carry the same bytes per delivery.
    const frame = encodeControl({ t: 'message', room: 'global', seq: this.seq, from: this.spec.name, text, time: Date.now(), id: `m${this.seq}` });
    return new Promise((resolve) => {
      this.awaitingEcho.push(resolve);
      socket.write(frame);
    });
  }

  onText(listener: (from: string, text: string) => void): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  }
}

/** Runs `task` over `items` with at most `limit` at a time; settles every item. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await task(items[index], index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  });
  await Promise.all(runners);
  return results;
}
