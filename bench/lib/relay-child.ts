/**
 * Starts bench/relay-process.js as a child process and talks to it (see that file for the
 * line protocol). Every wait is bounded; stop() always ends the child (SIGKILL at worst).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RelayProcessOptions } from '../relay-process.js';

const SCRIPT = fileURLToPath(new URL('../relay-process.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const KEPT_LOG_LINES = 2000;

export interface RelayStats {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  connections: number;
  /** Event-loop delay since start or the last reset, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Splits a text stream into lines and hands each to `onLine`. */
function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
}

export class RelayChild {
  /** Log lines the relay wrote to stderr (the newest KEPT_LOG_LINES). */
  readonly logLines: string[] = [];
  port = 0;
  fingerprint = '';
  pid = 0;
  private readonly answerWaiters: Array<(line: string) => void> = [];
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess, readonly kind: RelayProcessOptions['kind']) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    readLines(child.stderr!, (line) => {
      this.logLines.push(line);
      if (this.logLines.length > KEPT_LOG_LINES) this.logLines.shift();
    });
    readLines(child.stdout!, (line) => this.answerWaiters.shift()?.(line));
  }

  /**
   * Spawns the child and resolves once it listens. `nodeArgs` go before the script (e.g.
   * `--cpu-prof --cpu-prof-dir=…` to profile the relay); `--expose-gc` is always added.
   */
  static async start(options: RelayProcessOptions, nodeArgs: string[] = []): Promise<RelayChild> {
    const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs, SCRIPT, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const relay = new RelayChild(child, options.kind);
    try {
      const ready = await relay.nextLine(START_TIMEOUT_MS, `the ${options.kind} process did not start`);
      const message = JSON.parse(ready) as { ready?: boolean; port: number; fingerprint: string; pid: number };
      if (!message.ready) throw new Error(`unexpected first line from the ${options.kind} process: ${ready}`);
      relay.port = message.port;
      relay.fingerprint = message.fingerprint;
      relay.pid = message.pid;
      return relay;
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${relay.logLines.slice(-20).join('\n')}`);
    }
  }

  /** The next stdout line, or an error after `timeoutMs` or when the child exits first. */
  private nextLine(timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
      const waiter = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      this.answerWaiters.push(waiter);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${what}: it exited with code ${code}`));
      });
    });
  }

  /** Memory and connection count, optionally after a full GC in the relay. */
  async stats(gc = false): Promise<RelayStats> {
    return this.command(gc ? 'gc' : 'stats');
  }

  /** Starts the event-loop delay histogram again (answers with the stats before the reset). */
  resetLoopDelay(): Promise<RelayStats> {
    return this.command('reset-loop-delay');
  }

  private async command(command: string): Promise<RelayStats> {
    const answer = this.nextLine(COMMAND_TIMEOUT_MS, 'the relay process did not answer');
    this.child.stdin!.write(`${command}\n`);
    return JSON.parse(await answer) as RelayStats;
  }

  /** Log lines that report connections the relay dropped or closed with an error code. */
  droppedLines(): string[] {
    return this.logLines.filter((line) => / dropped: | closed: E_/.test(line));
  }

  /** Asks the child to close cleanly; kills it if it does not exit in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end('stop\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
