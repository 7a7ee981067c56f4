import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../relay/server.js';
import { ChatClient } from '../../../tui/core/client.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import { Recorder } from '../../helpers/recorder.js';
import { TmuxSession, requireTmux, startTui } from '../../helpers/tmux.js';

/**
 * IRC habits in the real TUI (dist/tui/cli.js) in tmux against a real relay on port 0, with
 * bob on the other side as the core's ChatClient: /search and Ctrl-R, /away in the users pane
 * and /users, the sidebar's unread count and hotlist, /ignore, a long line sent as several
 * messages, and a restart that goes back to the room. Screens are polled with a bounded wait.
 * With SECURECHAT_TEST_CAPTURES set to a folder, the screens shown are also written there.
 */

const PASSWORD = 'correct-horse-battery';

async function keep(name: string, screen: string): Promise<void> {
  const folder = process.env.SECURECHAT_TEST_CAPTURES;
  if (folder) await writeFile(path.join(folder, `${name}.txt`), screen);
}

function lineOf(screen: string, needle: string): string {
  return screen.split('\n').find((line) => line.includes(needle)) ?? '';
}

test('search, away, hotlist, ignore, long lines, and back in the room after a restart', async () => {
  requireTmux();
  const data = await tempDir('securechat-habits-relay-');
  const home = await tempDir('securechat-habits-home-');
  const relay: RunningRelay = await testRelay(data.path);
  const server = `127.0.0.1:${relay.port}`;
  const bob = new ChatClient({
    server,
    user: 'bob',
    password: PASSWORD,
    register: true,
    trust: { fingerprint: relay.fingerprint },
    configDir: path.join(home.path, 'bob-config'),
    dataDir: path.join(home.path, 'bob-data'),
    backoff: { baseMs: 50, maxMs: 200 },
  });
  const seen = new Recorder(bob);
  const alice = { server, fingerprint: relay.fingerprint, user: 'alice', password: PASSWORD, configDir: path.join(home.path, 'config'), dataDir: path.join(home.path, 'data') };
  let tui: TmuxSession | null = null;
  try {
    await bob.connect();
    tui = await startTui(alice);
    await tui.waitFor(/\[connected\].*alice@global/);
    await tui.type('/create lobby');
    await tui.keys('Enter');
    await tui.waitFor(/alice@lobby/);
    await bob.join('lobby');
    await tui.waitFor('--> bob joined');

    // /search: matching lines with their time; a clear line when nothing matches.
    await bob.say('the deploy is at noon');
    await bob.say('lunch first?');
    await bob.say('/me starts the Deploy');
    await tui.waitFor('* bob starts the Deploy');
    await tui.type('/search deploy');
    await tui.keys('Enter');
    let screen = await tui.waitFor('2 lines in lobby match "deploy":');
    assert.match(screen, / {10}\d\d:\d\d <bob> the deploy is at noon/);
    assert.match(screen, / {10}\d\d:\d\d \* bob starts the Deploy/);
    await keep('search', screen);
    await tui.type('zebra');
    await tui.keys('C-r');
    await tui.waitFor(/\[lobby\] \/search zebra\s*$/m);
    await tui.keys('Enter');
    await tui.waitFor('no lines in lobby match "zebra"');

    // /away: grey and marked in alice's users pane, and in /users with the text.
    await bob.away('at lunch, back at 2');
    screen = await tui.waitFor((s) => /│bob \(away\)\s*$/m.test(s));
    assert.not.ok(screen.includes('bob is away'), 'not announced in the room, as in IRC');
    const awayRow = lineOf(await tui.capture(true), 'bob (away)');
    assert.ok(awayRow.includes('38;5;244'), 'an away user is grey');
    await tui.type('/users');
    await tui.keys('Enter');
    screen = await tui.waitFor('users in lobby: alice, bob (away: at lunch, back at 2)');
    await keep('users-away', screen);
    await tui.type('/away brb');
    await tui.keys('Enter');
    await seen.waitFor('away', (e) => e.user === 'alice' && e.text === 'brb');
    await tui.waitFor((s) => /│alice \(away\)\s*$/m.test(s));
    await tui.type('/back');
    await tui.keys('Enter');
    await seen.waitFor('away', (e) => e.user === 'alice' && e.text === undefined);
    await tui.waitFor('you are back');

    // The sidebar: unread messages while scrolled back, the hotlist highlight for a mention
    // and a whisper, cleared once the newest line is seen.
    for (let i = 1; i <= 40; i++) await bob.say(`filler ${i}`);
    await tui.waitFor('<bob> filler 40');
    await tui.keys('PageUp');
    await tui.waitFor(/more lines? below/);
    await bob.say('just talk');
    screen = await tui.waitFor(/│?>lobby\s+\[1\]/);
    await bob.say('alice: have a look');
    await bob.whisper('alice', 'and a secret');
    screen = await tui.waitFor(/>lobby\s+\[3!\]/);
    await keep('hotlist', screen);
    const hot = lineOf(await tui.capture(true), '[3!]');
    assert.ok(hot.includes('38;5;170'), 'the hotlist highlight is magenta');
    await tui.keys('PageDown', 'PageDown', 'PageDown');
    await tui.waitFor((s) => !s.includes('[3!]') && s.includes('*bob* and a secret'));

    // /ignore: bob's messages and whispers are hidden, silently; /unignore shows them again.
    await tui.type('/ignore bob');
    await tui.keys('Enter');
    await tui.waitFor('ignoring bob');
    await bob.say('you cannot see this');
    await bob.whisper('alice', 'nor this');
    await tui.type('/ignore');
    await tui.keys('Enter');
    await tui.waitFor('ignoring: bob');
    await tui.type('/unignore bob');
    await tui.keys('Enter');
    await tui.waitFor('no longer ignoring bob');
    await bob.say('visible again');
    screen = await tui.waitFor('<bob> visible again');
    assert.not.ok(screen.includes('you cannot see this') || screen.includes('nor this'), screen);

    // A line longer than one message: two messages for bob, cut at a space, in order.
    const words = Array.from({ length: 700 }, (_, i) => `w${i}`).join(' '); // 3,790 bytes
    const long = `${words} ${words.replace(/w/g, 'x')}`;
    await tui.type(long);
    await tui.keys('Enter');
    const last = await seen.waitFor('message', (e) => e.from === 'alice' && e.text.endsWith('x699'));
    const texts = seen.of('message').filter((e) => e.from === 'alice').map((e) => e.text);
    assert.is(texts.length, 2, 'two messages');
    assert.is(texts.join(' '), long);
    assert.ok(texts.every((text) => Buffer.byteLength(text) <= 4096), 'each within the limit');
    assert.ok(last.text.startsWith('x'), 'cut at a space');

    // Quit and start again: back in lobby.
    assert.is(await tui.exit(), '0');
    await tui.kill();
    tui = await startTui({ ...alice, register: false });
    screen = await tui.waitFor(/\[connected\].*alice@lobby/);
    assert.ok(screen.includes('>lobby'), screen);
    assert.is(await tui.exit(), '0');
  } finally {
    await tui?.kill();
    await bob.close();
    await relay.close();
    await data.remove();
    await home.remove();
  }
});

test.run();
