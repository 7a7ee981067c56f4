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
import { testRelay } from './relay.js';
import { tempDir } from './temp.js';
import { type TmuxSession, type TuiLogin, startTui } from './tmux.js';

export interface TuiScene {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  home: string;
  work: string;
  /** A ChatClient (not connected yet), closed by close(). */
  client(options: ChatClientOptions): ChatClient;
  /** The full-screen client in tmux (startTui), killed by close() unless killed before. */
  startTui(login: TuiLogin): Promise<TmuxSession>;
  close(): Promise<void>;
}

/** A fresh scene in a temp folder named `prefix...`. */
export async function tuiScene(prefix: string): Promise<TuiScene> {
  const dir = await tempDir(prefix);
  const relay = await testRelay(path.join(dir.path, 'relay'));
  const home = path.join(dir.path, 'home');
  const work = path.join(dir.path, 'work');
  await Promise.all([fs.mkdir(home), fs.mkdir(work)]);
  const clients: ChatClient[] = [];
  const tuis: TmuxSession[] = [];
  return {
    dir,
    relay,
    home,
    work,
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
    async close() {
      for (const tui of tuis) await tui.kill();
      for (const client of clients) await client.close();
      await relay.close();
      await dir.remove();
    },
  };
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
