import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../relay/server.js';
import { ChatClient } from '../../../tui/core/client.js';
import { charColumns } from '../../../tui/view/text-width.js';
import type { ChatEvent } from '../../../tui/core/events.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import { EXIT_MARK, TUI_CLI, TmuxSession, requireTmux, startTui } from '../../helpers/tmux.js';

/**
 * The real TUI (dist/tui/cli.js) in tmux against a real relay on port 0, with a second client
 * (the core's ChatClient) on the other side. Screens are polled with a bounded wait.
 */

const START = fileURLToPath(new URL('../../../tui/start.js', import.meta.url));
const PASSWORD = 'correct-horse-battery';

/** Events a ChatClient received, with a bounded wait for one. */
class Recorder {
  readonly events: ChatEvent[] = [];
  private waiters: Array<() => void> = [];

  constructor(client: ChatClient) {
    client.on('*', (event) => {
      this.events.push(event);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  async waitFor<T extends ChatEvent>(match: (event: ChatEvent) => event is T, timeoutMs?: number): Promise<T>;
  async waitFor(match: (event: ChatEvent) => boolean, timeoutMs?: number): Promise<ChatEvent>;
  async waitFor(match: (event: ChatEvent) => boolean, timeoutMs = 15_000): Promise<ChatEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** The SGR attribute codes set in a captured line (`capture-pane -e`), colour arguments skipped. */
function attributes(line: string): Set<string> {
  const found = new Set<string>();
  for (const match of line.matchAll(/\x1b\[([0-9;]*)m/g)) {
    const parts = match[1].split(';');
    for (let i = 0; i < parts.length; i += 1) {
      if ((parts[i] === '38' || parts[i] === '48') && parts[i + 1] === '5') {
        found.add(`${parts[i]};5;${parts[i + 2]}`);
        i += 2;
      } else {
        found.add(parts[i]);
      }
    }
  }
  return found;
}

/** On-screen columns of `row` before code unit `end` (CJK and emoji take two). */
function columnsBefore(row: string, end: number): number {
  let columns = 0;
  for (const char of row.slice(0, end)) columns += charColumns(char);
  return columns;
}

function lineOf(screen: string, needle: string): string {
  return screen.split('\n').find((line) => line.includes(needle)) ?? '';
}

test('tmux is installed (the TUI tests need it: apt-get install tmux)', () => {
  requireTmux();
});

test('main view: log in, room, messages both ways, completion, whisper, escape injection, resize, reconnect, exit', async () => {
  const data = await tempDir('securechat-tui-relay-');
  const home = await tempDir('securechat-tui-home-');
  let relay: RunningRelay | null = await testRelay(data.path);
  const port = relay.port;
  const fingerprint = relay.fingerprint;
  const server = `127.0.0.1:${port}`;
  const bob = new ChatClient({
    server,
    user: 'bob',
    password: PASSWORD,
    register: true,
    trust: { fingerprint },
    configDir: path.join(home.path, 'bob-config'),
    dataDir: path.join(home.path, 'bob-data'),
    backoff: { baseMs: 50, maxMs: 200 },
  });
  const seen = new Recorder(bob);
  let tui: TmuxSession | null = null;
  try {
    await bob.connect();
    tui = await startTui({ server, fingerprint, user: 'alice', password: PASSWORD, configDir: path.join(home.path, 'config'), dataDir: path.join(home.path, 'data') });

    // Logged in: the status bar, both users in the global room.
    let screen = await tui.waitFor(/\[connected\].*alice@global/);
    assert.ok(screen.includes(server), 'the status bar names the relay');
    assert.ok(screen.includes(`sha256:${fingerprint.slice(7, 15)}`), 'the status bar shows the short fingerprint');
    await tui.waitFor(/rtt \d/);
    await tui.waitFor((s) => /│bob\s*$/m.test(s) && /│alice\s*$/m.test(s));
    assert.not.ok(/terminfo|Error|error:/i.test(screen), 'no terminfo errors over the screen');

    // Create a room and have bob join it.
    await tui.type('/create lobby');
    await tui.keys('Enter');
    await tui.waitFor(/alice@lobby/);
    screen = await tui.waitFor(/>lobby/);
    await bob.join('lobby');
    screen = await tui.waitFor('--> bob joined');
    await tui.waitFor((s) => /│bob\s*$/m.test(s));

    // Messages both ways; a mention of alice highlights and rings the bell.
    await tui.clearBell();
    assert.is(await tui.format('#{window_bell_flag}'), '0');
    await bob.say('hi alice, welcome');
    screen = await tui.waitFor('<bob> hi alice, welcome');
    const mention = lineOf(await tui.capture(true), 'hi alice, welcome');
    assert.ok(attributes(mention).has('7'), 'the mention shows the nick highlighted');
    assert.is(await tui.format('#{window_bell_flag}'), '1', 'the mention rang the bell');
    await tui.type('hello bob 你好 👍');
    await tui.keys('Enter');
    const got = await seen.waitFor((e): e is Extract<ChatEvent, { type: 'message' }> => e.type === 'message' && e.from === 'alice');
    assert.is(got.text, 'hello bob 你好 👍');
    screen = await tui.waitFor('<alice> hello bob 你好 👍');
    // Wide characters keep the layout: the users pane's rule is in the same column on every row.
    const ruleColumns = new Set(
      screen
        .split('\n')
        .slice(0, 28)
        .map((row) => columnsBefore(row, row.lastIndexOf('│'))),
    );
    assert.is(ruleColumns.size, 1, screen);

    // Tab completes a command, then a nick in the room.
    await tui.type('/whi');
    await tui.keys('Tab');
    await tui.waitFor(/\[lobby\] \/whisper\s*$/m);
    await tui.type('b');
    await tui.keys('Tab');
    await tui.waitFor(/\[lobby\] \/whisper bob\s*$/m);
    await tui.type('psst');
    await tui.keys('Enter');
    const whisper = await seen.waitFor((e): e is Extract<ChatEvent, { type: 'whisper' }> => e.type === 'whisper' && e.from === 'alice');
    assert.is(whisper.text, 'psst');
    await tui.waitFor('-> *bob* psst');

    // A whisper to alice: highlighted, and the bell again.
    await tui.clearBell();
    await bob.whisper('alice', 'a secret for you');
    await tui.waitFor('*bob* a secret for you');
    const whisperLine = lineOf(await tui.capture(true), "a secret for you");
    assert.ok(attributes(whisperLine).has('7'), 'the whisper is highlighted');
    assert.is(await tui.format('#{window_bell_flag}'), '1', 'the whisper rang the bell');

    // Escape injection: shown, never obeyed.
    await bob.say('\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07{red-bg}RED{/red-bg} \x1b[41mbg\x1b[0m \x9b31mc1 \x07\x08\x7fend');
    screen = await tui.waitFor('end');
    const injected = lineOf(screen, 'RED');
    assert.ok(injected.includes('<bob> {red-bg}RED{/red-bg} bg c1 end'), injected);
    assert.ok(screen.includes('<bob> hi alice, welcome'), 'the screen was not cleared');
    const withAttributes = lineOf(await tui.capture(true), 'RED');
    const set = attributes(withAttributes);
    assert.not.ok(set.has('41') || set.has('48;5;1') || set.has('48;5;9') || set.has('48;5;196'), 'no red background');
    assert.is.not(await tui.format('#{pane_title}'), 'pwned', 'the window title was not changed');

    // 80x24 and resize: the layout follows, the input line and status bar stay at the bottom.
    await tui.type('draft kept');
    await tui.resize(80, 24);
    screen = await tui.waitFor((s) => {
      const rows = s.replace(/\n$/, '').split('\n');
      return rows.length === 24 && /\[connected\]/.test(rows[22]) && /\[lobby\] draft kept/.test(rows[23]);
    });
    assert.ok(screen.split('\n').every((row) => [...row].length <= 80), 'no row wider than the terminal');
    await tui.resize(100, 30);
    await tui.waitFor((s) => s.replace(/\n$/, '').split('\n').length === 30 && s.includes('[lobby] draft kept'));

    // The relay goes away: the TUI says so, keeps the screen and what was typed, and reconnects.
    await relay.close();
    relay = null;
    screen = await tui.waitFor(/reconnecting/);
    assert.ok(screen.includes('<bob> hi alice, welcome'), 'the screen is kept');
    assert.ok(screen.includes('[lobby] draft kept'), 'typed input is kept');
    relay = await testRelay(data.path, { port });
    screen = await tui.waitFor(/\[connected\].*alice@lobby/, { timeoutMs: 30_000 });
    assert.ok(screen.includes('back in lobby'));
    assert.ok(screen.includes('[lobby] draft kept'), 'typed input survives the reconnect');
    await seen.waitFor((e) => e.type === 'joined' && e.rejoined && e.room === 'lobby', 30_000);
    await tui.keys('Enter');
    const after = await seen.waitFor((e): e is Extract<ChatEvent, { type: 'message' }> => e.type === 'message' && e.text === 'draft kept');
    assert.is(after.from, 'alice');

    // A relay error is a readable line (joining works from the global room only).
    await tui.type('/join elsewhere');
    await tui.keys('Enter');
    await tui.waitFor((s) => s.includes('-!- /join: ') && s.includes('(E_NOT_IN_GLOBAL)'));

    // /help comes from the registry; an unknown command is a readable line, not a crash.
    await tui.type('/help');
    await tui.keys('Enter');
    await tui.waitFor('/reconnect');
    // PageUp scrolls back into the help (a page or a few: it is longer than the pane), PageDown returns to the newest lines.
    let pages = 0;
    do {
      const before = await tui.capture();
      await tui.keys('PageUp');
      pages += 1;
      screen = await tui.waitFor((s) => s !== before && /more lines? below/.test(s));
    } while (!screen.includes('/verify USER') && pages < 4);
    assert.ok(screen.includes('/verify USER'), screen);
    await tui.keys(...Array.from({ length: pages + 2 }, () => 'PageDown'));
    await tui.waitFor((s) => s.includes('Ctrl-C') && !/more lines? below/.test(s));
    await tui.type('/nonsense');
    await tui.keys('Enter');
    await tui.waitFor('E_UNKNOWN_COMMAND');
    await tui.keys('C-u');

    // /exit leaves cleanly.
    assert.is(await tui.exit(), '0');
  } finally {
    await tui?.kill();
    await bob.close();
    await relay?.close();
    await data.remove();
    await home.remove();
  }
});

test('login page, trust on first use, then a changed certificate is refused full-screen', async () => {
  const data = await tempDir('securechat-tui-relay-');
  const home = await tempDir('securechat-tui-home-');
  const relay = await testRelay(data.path);
  const server = `127.0.0.1:${relay.port}`;
  const config = path.join(home.path, 'config');
  const env = { SECURECHAT_CONFIG_DIR: config, SECURECHAT_DATA_DIR: path.join(home.path, 'data') };
  let tui: TmuxSession | null = null;
  try {
    tui = await TmuxSession.start({ command: ['node', TUI_CLI, '--server', server], env, cols: 80, rows: 24 });
    await tui.waitFor('[ Connect ]');
    await tui.type('carol');
    await tui.keys('Tab');
    await tui.type(PASSWORD);
    await tui.waitFor(/Password \[\*{21}/);
    await tui.keys('Tab', 'Space');
    await tui.waitFor('[x] create a new account');
    await tui.keys('Enter');
    let screen = await tui.waitFor('Trust this relay?');
    assert.ok(screen.includes(relay.fingerprint.slice(7, 11)), 'the fingerprint is shown');
    await tui.type('y');
    await tui.waitFor(/\[connected\].*carol@global/);
    await tui.type('/quit');
    await tui.keys('Enter');
    await tui.waitFor(EXIT_MARK);
    await tui.kill();

    // Someone else's certificate now answers at that address.
    await writeFile(path.join(config, 'known_relays'), `${server} sha256:${'ab'.repeat(32)}\n`);
    tui = await TmuxSession.start({ command: ['node', TUI_CLI, '--server', server, '--user', 'carol'], env: { ...env, SECURECHAT_PASSWORD: PASSWORD }, cols: 80, rows: 24 });
    screen = await tui.waitFor('NOT CONNECTING');
    assert.ok(screen.includes('abab abab'), 'the old fingerprint is shown');
    assert.ok(screen.includes(relay.fingerprint.slice(7, 11)), 'the new fingerprint is shown');
    await tui.type('q');
    screen = await tui.waitFor(EXIT_MARK);
    assert.is(EXIT_MARK.exec(screen)?.[1], '1');
  } finally {
    await tui?.kill();
    await relay.close();
    await data.remove();
    await home.remove();
  }
});

test('login page: a wrong password, then the right one, gets in (Enter adds no hidden character)', async () => {
  const data = await tempDir('securechat-tui-relay-');
  const home = await tempDir('securechat-tui-home-');
  const relay = await testRelay(data.path);
  const server = `127.0.0.1:${relay.port}`;
  const dave = new ChatClient({ server, user: 'dave', password: PASSWORD, register: true, trust: { fingerprint: relay.fingerprint }, configDir: path.join(home.path, 'dave-config'), dataDir: path.join(home.path, 'dave-data') });
  let tui: TmuxSession | null = null;
  try {
    await dave.connect();
    await dave.close();
    const env = { SECURECHAT_CONFIG_DIR: path.join(home.path, 'config'), SECURECHAT_DATA_DIR: path.join(home.path, 'data') };
    tui = await TmuxSession.start({ command: ['node', TUI_CLI, '--server', server, '--user', 'dave', '--fingerprint', relay.fingerprint], env, cols: 80, rows: 24 });
    await tui.waitFor('[ Connect ]');
    // A typo in the last character, as a person makes it.
    await tui.type(PASSWORD.slice(0, -1) + 'X');
    await tui.waitFor(/Password \[\*{21}/);
    await tui.keys('Enter');
    const screen = await tui.waitFor('(E_AUTH)');
    // The field still holds exactly what was typed: 21 stars, no 22nd for a hidden character.
    assert.ok(/Password \[\*{21}[^*]/.test(screen), `the password field is unchanged:\n${screen}`);
    // Fixed the way a person fixes it: one Backspace, the right last character, Enter.
    await tui.keys('BSpace');
    await tui.type(PASSWORD.slice(-1));
    await tui.keys('Enter');
    await tui.waitFor(/\[connected\].*dave@global/);
    await tui.type('/quit');
    await tui.keys('Enter');
    await tui.waitFor(EXIT_MARK);
  } finally {
    await tui?.kill();
    await dave.close();
    await relay.close();
    await data.remove();
    await home.remove();
  }
});

test('whispers: the lock, /verify, and a changed key shown in a bar that stays until /trust', async () => {
  const data = await tempDir('securechat-tui-relay-');
  const home = await tempDir('securechat-tui-home-');
  const relay = await testRelay(data.path);
  const server = `127.0.0.1:${relay.port}`;
  const bobOptions = { server, user: 'bob', password: PASSWORD, trust: { fingerprint: relay.fingerprint }, configDir: path.join(home.path, 'bob-config') };
  const bob = new ChatClient({ ...bobOptions, register: true, dataDir: path.join(home.path, 'bob-data') });
  const bobSeen = new Recorder(bob);
  let laptop: ChatClient | null = null;
  let tui: TmuxSession | null = null;
  try {
    await bob.connect();
    tui = await startTui({ server, fingerprint: relay.fingerprint, user: 'alice', password: PASSWORD, configDir: path.join(home.path, 'config'), dataDir: path.join(home.path, 'data') });
    await tui.waitFor(/\[connected\].*alice@global/);
    await tui.waitFor((s) => /│bob\s*$/m.test(s));

    // Every whisper carries the lock; the relay saw only ciphertext, bob reads the text.
    await tui.type('/whisper bob hello bob');
    await tui.keys('Enter');
    await bobSeen.waitFor((e) => e.type === 'whisper' && e.text === 'hello bob');
    let screen = await tui.waitFor('-> *bob* hello bob');
    assert.ok(lineOf(screen, 'hello bob').includes('\u{1F512} -> *bob*'), lineOf(screen, 'hello bob'));

    // /verify: the same safety number bob's side computes.
    await tui.type('/verify bob');
    await tui.keys('Enter');
    const number = (await bob.verify('alice')).safetyNumber.split(' ');
    screen = await tui.waitFor('safety number of you and bob (not verified)');
    assert.ok(screen.includes(number.slice(0, 6).join(' ')) && screen.includes(number.slice(6).join(' ')), screen);

    // Bob comes back on another machine (new keys) and whispers: held, and the bar appears.
    await bob.close();
    laptop = new ChatClient({ ...bobOptions, dataDir: path.join(home.path, 'bob-laptop') });
    await laptop.connect();
    await laptop.whisper('alice', 'from the laptop');
    screen = await tui.waitFor('KEY CHANGED for bob');
    let rows = screen.replace(/\n$/, '').split('\n');
    assert.match(rows[27], /KEY CHANGED for bob: \/verify bob, then \/trust bob/, 'the bar sits right above the status bar');
    assert.match(rows[28], /\[connected\]/);
    assert.not.ok(screen.includes('from the laptop'), 'nothing from the new key is shown yet');

    // It does not scroll away: a screenful of other lines later it is still there.
    await tui.type('/help');
    await tui.keys('Enter');
    screen = await tui.waitFor('Ctrl-C');
    assert.ok(screen.includes('KEY CHANGED for bob'), 'the bar stays while the messages scroll');
    await tui.type('/whisper bob still you?');
    await tui.keys('Enter');
    await tui.waitFor('(E_KEY_CHANGED)');

    // /trust accepts the new key: the bar goes, the held whisper shows, verified.
    await tui.type('/trust bob');
    await tui.keys('Enter');
    screen = await tui.waitFor((s) => s.includes('*bob* from the laptop') && !s.includes('KEY CHANGED for bob'));
    assert.ok(lineOf(screen, 'from the laptop').includes('\u{1F512}\u2713 *bob*'), lineOf(screen, 'from the laptop'));
    rows = screen.replace(/\n$/, '').split('\n');
    assert.match(rows[28], /\[connected\]/);
    assert.match(rows[29], /\[global\]/);

    assert.is(await tui.exit(), '0');
  } finally {
    await tui?.kill();
    await bob.close();
    await laptop?.close();
    await relay.close();
    await data.remove();
    await home.remove();
  }
});

test('npm start: a local relay and the TUI connected to it; quitting closes the relay', async () => {
  const home = await tempDir('securechat-tui-start-');
  const dataHome = path.join(home.path, 'data');
  await mkdir(dataHome, { recursive: true });
  let tui: TmuxSession | null = null;
  try {
    tui = await TmuxSession.start({
      command: ['node', START, '--port', '0', '--user', 'dave'],
      env: { SECURECHAT_PASSWORD: PASSWORD, SECURECHAT_CONFIG_DIR: path.join(home.path, 'config'), SECURECHAT_DATA_DIR: dataHome },
    });
    await tui.waitFor(/\[connected\].*dave@global/, { timeoutMs: 30_000 });
    const running = path.join(dataHome, 'local-relay', 'running.json');
    assert.ok(existsSync(running), 'the running relay is announced for a second npm start');
    await tui.type('/exit');
    await tui.keys('Enter');
    const screen = await tui.waitFor(EXIT_MARK, { timeoutMs: 30_000 });
    assert.is(EXIT_MARK.exec(screen)?.[1], '0');
    assert.not.ok(existsSync(running), 'the relay closed');
  } finally {
    await tui?.kill();
    await home.remove();
  }
});

test.run();
