/**
 * One end-to-end test of the full-screen client against a real relay, with ChatClients on the
 * other side: a temp folder with the relay in it (`<dir>/relay`), a `home` (HOME) and a `work`
 * folder (the TUI's working folder), and everything the test starts on them, ended in order
 * by `close()` (the TUIs, then the clients, the relay, the folder), however the test went.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunningRelay } from '../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../tui/core/client.js';
import type { TransferOptions } from '../../tui/core/transfer/transfer.js';
import { testClientOptions } from './clients.js';
import { testRelay } from './relay.js';
import { tempDir } from './temp.js';
import { type TmuxSession, type TuiLogin, startTui, testTuiLogin } from './tmux.js';
import { loopbackOptions } from './transfer-helpers.js';

export interface TuiScene {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  home: string;
  work: string;
  /** A ChatClient (not connected yet), closed by close(). */
  client(options: ChatClientOptions): ChatClient;
  /** The full-screen client in tmux (startTui), killed by close() unless killed before. */
  startTui(login: TuiLogin): Promise<TmuxSession>;
  /**
   * bob, a ChatClient sending and receiving through the relay only (loopback, `transfer` over
   * that), saving into `bobDownloads`; connected.
   */
  startBob(transfer?: Partial<Omit<TransferOptions, 'link'>>): Promise<ChatClient>;
  /** `<dir>/bob-downloads`, made. */
  bobDownloads: string;
  /** alice in the full-screen client through the relay only (`--no-direct`), in `work` with `home`, 120 columns; `login` over that. */
  startAlice(login?: Partial<TuiLogin>): Promise<TmuxSession>;
  close(): Promise<void>;
}

/** A fresh scene in a temp folder named `prefix...`. */
export async function tuiScene(prefix: string): Promise<TuiScene> {
  const dir = await tempDir(prefix);
  const relay = await testRelay(path.join(dir.path, 'relay'));
  const home = path.join(dir.path, 'home');
  const work = path.join(dir.path, 'work');
  const bobDownloads = path.join(dir.path, 'bob-downloads');
  await Promise.all([fs.mkdir(home), fs.mkdir(work), fs.mkdir(bobDownloads)]);
  const clients: ChatClient[] = [];
  const tuis: TmuxSession[] = [];
  const scene: TuiScene = {
    dir,
    relay,
    home,
    work,
    bobDownloads,
    client(options) {
      const client = new ChatClient(options);
      clients.push(client);
      return client;
    },
    async startTui(login) {
      const tui = await startTui(login);
      tuis.push(tui);
      return tui;
    },
    async startBob(transfer = {}) {
      const bob = scene.client({ ...testClientOptions({ relay, dir }, 'bob'), transfers: { direct: false, downloadDir: bobDownloads, transfer: { ...loopbackOptions(), ...transfer } } });
      await bob.connect();
      return bob;
    },
    startAlice(login = {}) {
      return scene.startTui({ ...testTuiLogin({ relay, dir }, 'alice'), noDirect: true, home, cwd: work, cols: 120, ...login });
    },
    async close() {
      for (const tui of tuis) await tui.kill();
      for (const client of clients) await client.close();
      await relay.close();
      await dir.remove();
    },
  };
  return scene;
}

/** Waits until `tui` shows alice connected in the global room with bob in the users list. */
export async function aliceSeesBob(tui: TmuxSession, timeoutMs: number): Promise<void> {
  await tui.waitFor(/\[connected\].*alice@global/, { timeoutMs });
  await tui.waitFor((s) => /│bob\s*$/m.test(s), { timeoutMs });
}

/**
 * The messages pane's text without white space, so a wrapped line matches whatever way it
 * was wrapped (paths are broken between characters, words at spaces). A row with no pane
 * border is left out, or kept whole with `bareRows: 'keep'`.
 */
export function squash(screen: string, bareRows: 'drop' | 'keep' = 'drop'): string {
  return screen
    .split('\n')
    .map((row) => row.split('│')[1] ?? (bareRows === 'keep' ? row : ''))
    .join('')
    .replace(/\s+/g, '');
}

/** Prints `screen` under `title` when SECURECHAT_SHOW_SCREEN is set (to look at what a test saw). */
export function show(title: string, screen: string): void {
  if (process.env.SECURECHAT_SHOW_SCREEN) console.log(`----- ${title} -----\n${screen}\n-----`);
}
