/**
 * Clients that restart, for the restart tests (restart, folder-restart and their SIGKILL
 * twins restart-crash, folder-restart-crash): a user's client on the same folders run after
 * run (its journal where the next run finds it), and a receiving client in a child process
 * (the test file itself, started with `--crash-child`) that says lines on stdout as it gets
 * somewhere and is killed with SIGKILL (no cleanup of any kind).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import type { RunningRelay } from '../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../tui/core/client.js';
import { userDataDir } from '../../tui/core/paths.js';
import type { TransferConstants } from '../../tui/core/transfer/constants.js';
import { TRANSFER_JOURNAL_DIR_NAME } from '../../tui/core/transfer/journal.js';
import { testClientOptions } from './clients.js';
import { plainErrors } from './core-helpers.js';
import { Recorder } from './recorder.js';
import { type RelayTestContext, withRelayPerTest } from './relay.js';
import { loopbackOptions } from './transfer-helpers.js';

/** Every wait of these tests (a child's line, an event); a child gives up after twice this. */
export const RESTART_WAIT_MS = 60_000;

export interface RestartClientOptions {
  /** A later run: logs in (the first registers). */
  again?: boolean;
  /** Direct connections between the peers (false: through the relay only); default the client's. */
  direct?: boolean;
  /** Over the tests' transfer constants (progress on every ack, quick retries, relay after 500 ms). */
  constants?: Partial<TransferConstants>;
}

/**
 * `user` of the test relay with its config and data folders under the test's folder (the same
 * ones each run, as a restarted process would have), downloads into `<dir>/<user>-downloads`.
 */
export function restartClientOptions(env: { relay: { port: number; fingerprint: string }; dir: { path: string } }, user: string, options: RestartClientOptions = {}): ChatClientOptions {
  return {
    ...testClientOptions({ relay: env.relay as RunningRelay, dir: env.dir }, user),
    register: options.again !== true,
    transfers: {
      downloadDir: path.join(env.dir.path, `${user}-downloads`),
      ...(options.direct === undefined ? {} : { direct: options.direct }),
      // Progress on every acknowledgement, so a test can stop a side at a known point.
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 500, RETRY_DELAY_MS: 200, PROGRESS_INTERVAL_MS: 0, ...options.constants } },
    },
  };
}

/** One user's side: its client (online), what it heard, where it saves. */
export interface Side {
  user: string;
  client: ChatClient;
  rec: Recorder;
  downloads: string;
}

/** A client of `user` as restartClientOptions, online, closed with the test (`ctx.clients`). */
export async function startSide(ctx: RelayTestContext, user: string, options: RestartClientOptions = {}): Promise<Side> {
  const downloads = path.join(ctx.dir.path, `${user}-downloads`);
  await fs.mkdir(downloads, { recursive: true });
  const client = new ChatClient(restartClientOptions(ctx, user, options));
  ctx.clients.push(client);
  const rec = new Recorder(client, RESTART_WAIT_MS);
  await client.connect();
  return { user, client, rec, downloads };
}

/** The transfer journal's folder of `user` (as restartClientOptions places its data). */
export function journalDirOf(dir: string, user: string): string {
  return path.join(userDataDir(user, path.join(dir, `${user}-data`)), TRANSFER_JOURNAL_DIR_NAME);
}

/** What the child is told on its command line: the relay and the test's temp folder. */
export interface CrashChildArgs {
  relay: { port: number; fingerprint: string };
  dir: string;
}

/** restartClientOptions from a crash child's arguments (as startSide's in the parent). */
export function crashClientOptions(args: CrashChildArgs, user: string, register: boolean): ChatClientOptions {
  return restartClientOptions({ relay: args.relay, dir: { path: args.dir } }, user, { again: !register });
}

/** On a crash child's command line, before its arguments. */
const CHILD_FLAG = '--crash-child';

/** The child's arguments when this process is the child, else null. */
function crashChildArgs(): CrashChildArgs | null {
  const at = process.argv.indexOf(CHILD_FLAG);
  return at === -1 ? null : (JSON.parse(process.argv[at + 1]) as CrashChildArgs);
}

/** The child, once connected: says `online`, then waits to be killed (bounded: it exits on its own after twice RESTART_WAIT_MS). */
export async function onlineUntilKilled(): Promise<never> {
  process.stdout.write('online\n');
  setTimeout(() => process.exit(3), RESTART_WAIT_MS * 2).unref();
  return new Promise<never>(() => undefined);
}

/** The parent's handle on the child: its lines, the kill, the cleanup. */
export class CrashChild {
  private readonly exited: Promise<unknown>;
  private readonly lines: readline.Interface;

  private constructor(private readonly child: ChildProcess) {
    this.exited = once(child, 'exit');
    this.lines = readline.createInterface({ input: child.stdout! });
  }

  /**
   * Runs the test file `moduleUrl` (its `import.meta.url`) again as the child, for
   * the relay and the folder of `ctx` (bob's downloads folder made first); resolves once the
   * child says it is online.
   */
  static async start(ctx: RelayTestContext, moduleUrl: string): Promise<CrashChild> {
    const args: CrashChildArgs = { relay: { port: ctx.relay.port, fingerprint: ctx.relay.fingerprint }, dir: ctx.dir.path };
    await fs.mkdir(path.join(ctx.dir.path, 'bob-downloads'), { recursive: true });
    const child = new CrashChild(spawn(process.execPath, [fileURLToPath(moduleUrl), CHILD_FLAG, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] }));
    try {
      await child.waitLine('online');
    } catch (error) {
      child.close();
      throw error;
    }
    return child;
  }

  /** The child's next line starting with `prefix` (listening starts now); fails after RESTART_WAIT_MS. */
  waitLine(prefix: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child never said "${prefix}"`)), RESTART_WAIT_MS);
      const onLine = (line: string): void => {
        if (!line.startsWith(prefix)) return;
        clearTimeout(timer);
        this.lines.off('line', onLine);
        resolve(line);
      };
      this.lines.on('line', onLine);
    });
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    this.lines.close();
  }

  /** For `finally`: kills the child if it still runs (safe to call after kill). */
  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.lines.close();
  }
}

export interface CrashTest {
  /** The test file's `import.meta.url` (it is run again as the child). */
  moduleUrl: string;
  /** What the child does (connect, say where it is, then onlineUntilKilled). */
  child: (args: CrashChildArgs) => Promise<void>;
  suite: string;
  /** Of the temp folder of each test. */
  prefix: string;
  test: string;
  /** The test, with the child online; the child is killed after it, whatever happened. */
  body: (ctx: RelayTestContext, child: CrashChild) => Promise<void>;
}

/** A crash test file: run as the child it runs `child`; else it is one suite (a relay per test) of one test. */
export async function crashTest(test: CrashTest): Promise<void> {
  const args = crashChildArgs();
  if (args !== null) {
    await test.child(args);
    return;
  }
  const spec = suite<RelayTestContext>(test.suite);
  withRelayPerTest(spec, test.prefix);
  spec(
    test.test,
    plainErrors(async (ctx: RelayTestContext) => {
      const child = await CrashChild.start(ctx, test.moduleUrl);
      try {
        await test.body(ctx, child);
      } finally {
        child.close();
      }
    }),
  );
  spec.run();
}
