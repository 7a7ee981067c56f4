import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TEST_PASSWORD } from './clients.js';

/**
 * Drives a real terminal program inside tmux for end-to-end tests: type keys, read the screen
 * back as text, wait for something to appear. Each session runs on its own tmux server
 * (`-L` socket, no config file), so tests never touch the user's tmux and `kill()` removes
 * everything they started.
 */

const run = promisify(execFile);

/** Throws (never skips) when tmux is missing, saying how to install it. */
export function requireTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error('tmux is not installed, and the TUI end-to-end tests drive the real TUI inside it: apt-get install tmux');
  }
}

export interface TmuxStartOptions {
  /** The program and its arguments (run through sh so that its exit status can be printed). */
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  cols?: number;
  rows?: number;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The full-screen client (dist/tui/cli.js). */
export const TUI_CLI = fileURLToPath(new URL('../../tui/cli.js', import.meta.url));

/** The full-screen client logging in from the command line: the flags and folders the TUI tests vary. */
export interface TuiLogin {
  /** The relay, `host:port`. */
  server: string;
  /** The relay's certificate fingerprint, pinned with `--fingerprint`. */
  fingerprint: string;
  user: string;
  /** Given as SECURECHAT_PASSWORD, so no password prompt. */
  password: string;
  /** SECURECHAT_CONFIG_DIR and SECURECHAT_DATA_DIR. */
  configDir: string;
  dataDir: string;
  /** `--register` (default true); false logs in to an existing account. */
  register?: boolean;
  /** `--no-direct`: transfers only through the relay (no listener, no dialling peers). */
  noDirect?: boolean;
  /** HOME (where ~/Downloads is). */
  home?: string;
  cwd?: string;
  cols?: number;
  rows?: number;
}

/**
 * `user` of a test relay in the full-screen client, registering, the relay pinned, with
 * config and data folders of its own under the test's temp folder (as testClientOptions).
 */
export function testTuiLogin(env: { relay: { port: number; fingerprint: string }; dir: { path: string } }, user: string): TuiLogin {
  return {
    server: `127.0.0.1:${env.relay.port}`,
    fingerprint: env.relay.fingerprint,
    user,
    password: TEST_PASSWORD,
    configDir: path.join(env.dir.path, `${user}-config`),
    dataDir: path.join(env.dir.path, `${user}-data`),
  };
}

/** Starts the full-screen client in tmux, logging in (or registering) as `login.user`. */
export function startTui(login: TuiLogin): Promise<TmuxSession> {
  const command = ['node', TUI_CLI, '--server', login.server, '--user', login.user];
  if (login.register !== false) command.push('--register');
  command.push('--fingerprint', login.fingerprint);
  if (login.noDirect) command.push('--no-direct');
  const env: Record<string, string> = {
    SECURECHAT_PASSWORD: login.password,
    SECURECHAT_CONFIG_DIR: login.configDir,
    SECURECHAT_DATA_DIR: login.dataDir,
    // tmux's own TERM: blessed must not read it (the TUI sets its terminal explicitly).
    TERM: 'screen-256color',
  };
  if (login.home !== undefined) env.HOME = login.home;
  return TmuxSession.start({ command, env, cwd: login.cwd, cols: login.cols, rows: login.rows });
}

/** Printed after the program ends: `[exited N]`. */
export const EXIT_MARK = /\[exited (\d+)\]/;

export class TmuxSession {
  private killed = false;

  private constructor(
    /** The private server's socket name. */
    readonly socket: string,
    readonly name: string,
  ) {}

  /** Starts `command` in a detached session of `cols` x `rows` (default 100 x 30). */
  static async start(options: TmuxStartOptions): Promise<TmuxSession> {
    requireTmux();
    const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const session = new TmuxSession(`securechat-test-${id}`, `tui-${id}`);
    const env = { LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8', ...options.env };
    // After the program ends, say how, and keep the pane so the test can read it.
    const script = `${options.command.map(shellQuote).join(' ')}; echo "[exited $?]"; sleep 600`;
    const args = ['-u', '-L', session.socket, '-f', '/dev/null', 'new-session', '-d', '-s', session.name];
    args.push('-x', String(options.cols ?? 100), '-y', String(options.rows ?? 30));
    if (options.cwd) args.push('-c', options.cwd);
    for (const [key, value] of Object.entries(env)) args.push('-e', `${key}=${value}`);
    args.push(script);
    await run('tmux', args, { env: { ...process.env, ...env } });
    return session;
  }

  private tmux(args: string[]): Promise<{ stdout: string }> {
    return run('tmux', ['-L', this.socket, ...args]);
  }

  /** The visible screen as plain text (`escapes`: with SGR attributes, `capture-pane -e`). */
  async capture(escapes = false): Promise<string> {
    const { stdout } = await this.tmux(['capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', this.name]);
    return stdout;
  }

  /** Sends tmux key names (`Enter`, `Tab`, `C-c`, `PageUp`...). */
  async keys(...keys: string[]): Promise<void> {
    await this.tmux(['send-keys', '-t', this.name, ...keys]);
  }

  /** Types text literally. */
  async type(text: string): Promise<void> {
    await this.tmux(['send-keys', '-l', '-t', this.name, text]);
  }

  /** A tmux format value for the pane/window (e.g. `#{window_bell_flag}`). */
  async format(format: string): Promise<string> {
    const { stdout } = await this.tmux(['display-message', '-p', '-t', this.name, format]);
    return stdout.trim();
  }

  /** Clears the window's bell flag (tmux clears alerts when a window is selected). */
  async clearBell(): Promise<void> {
    await this.tmux(['new-window', '-d', '-t', `${this.name}:9`, 'sleep 600']).catch(() => {});
    await this.tmux(['select-window', '-t', `${this.name}:9`]);
    await this.tmux(['select-window', '-t', `${this.name}:0`]);
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.tmux(['resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows)]);
  }

  /** Types /exit and waits for the program to end; resolves with its exit status. */
  async exit(options: { timeoutMs?: number } = {}): Promise<string | undefined> {
    await this.type('/exit');
    await this.keys('Enter');
    const screen = await this.waitFor(EXIT_MARK, options);
    return EXIT_MARK.exec(screen)?.[1];
  }

  /**
   * Polls the screen until `expected` (text, pattern, or test on the screen) shows, and returns
   * that screen; fails after `timeoutMs` with the last screen in the message.
   */
  async waitFor(expected: string | RegExp | ((screen: string) => boolean), options: { timeoutMs?: number; escapes?: boolean } = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const test = typeof expected === 'function' ? expected : typeof expected === 'string' ? (s: string) => s.includes(expected) : (s: string) => expected.test(s);
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    for (;;) {
      screen = await this.capture(options.escapes === true);
      if (test(screen)) return screen;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(expected)}; the screen was:\n${screen}`);
  }

  /** Ends the session and its private tmux server, and removes the server's socket file (safe to call twice). */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    const socketPath = await this.tmux(['display-message', '-p', '#{socket_path}']).then(
      (r) => r.stdout.trim(),
      () => '',
    );
    await this.tmux(['kill-server']).catch(() => {});
    // tmux leaves the socket file behind; it is ours (a unique name), so remove it.
    if (socketPath !== '' && path.basename(socketPath) === this.socket) await rm(socketPath, { force: true });
  }
}
