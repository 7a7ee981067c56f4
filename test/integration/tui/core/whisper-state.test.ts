import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../../helpers/errors.js';
import { WHISPER_STATE_FILE_NAME, WhisperState } from '../../../../tui/core/whisper-state.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { tempDir } from '../../../helpers/temp.js';
import { eventually } from '../../../helpers/wait.js';

/** A flush delay no test waits for: writes happen only on `flush()`. */
const NEVER = 3_600_000;

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir('securechat-wstate-');
  try {
    await run(path.join(dir.path, 'user'));
  } finally {
    await dir.remove();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

test('a missing file is an empty state; nothing is written before a change is flushed', plainErrors(() =>
  withDir(async (dir) => {
    const state = await WhisperState.open(dir, { flushDelayMs: NEVER });
    assert.is(state.senderCount, 0);
    assert.is(state.counter.last, 0);
    await state.flush();
    assert.not.ok(await exists(path.join(dir, WHISPER_STATE_FILE_NAME)), 'no change, no write');
    state.guardFor('bob').accept(5);
    state.changed();
    state.changed();
    assert.not.ok(await exists(state.path), 'batched: not written yet');
    await state.flush();
    assert.is((await fs.stat(state.path)).mode & 0o777, 0o600);
  }),
));

test('guards and the counter survive a reopen; a replay is still refused', plainErrors(() =>
  withDir(async (dir) => {
    let clock = 1_700_000_000_000;
    const state = await WhisperState.open(dir, { flushDelayMs: NEVER, now: () => clock });
    const sent = state.counter.next();
    state.guardFor('Bob').accept(10);
    state.guardFor('bob').accept(12);
    state.changed();
    await state.flush();

    clock -= 60_000; // the clock went back across the restart
    const again = await WhisperState.open(dir, { flushDelayMs: NEVER, now: () => clock });
    assert.ok(again.counter.next() > sent, 'counters never repeat');
    const guard = again.guardFor('BOB');
    assert.not.ok(guard.wouldAccept(10));
    assert.not.ok(guard.wouldAccept(12));
    assert.ok(guard.wouldAccept(11), 'out of order within the window');
    assert.is(again.senderCount, 1);
  }),
));

test('a batched write follows by itself after the delay', plainErrors(() =>
  withDir(async (dir) => {
    const state = await WhisperState.open(dir, { flushDelayMs: 10 });
    state.guardFor('bob').accept(1);
    state.changed();
    await eventually(() => exists(state.path), 'the batched write on disk');
    assert.ok(await exists(state.path));
  }),
));

test('bounded: old senders are compacted to their highest counter, then forgotten', plainErrors(() =>
  withDir(async (dir) => {
    const options = { flushDelayMs: NEVER, maxFullGuards: 2, maxSenders: 3 };
    const state = await WhisperState.open(dir, options);
    state.guardFor('ann').accept(7);
    state.guardFor('ann').accept(9);
    state.guardFor('bob').accept(1);
    state.guardFor('bob').accept(3);
    state.guardFor('cat').accept(1); // three full guards: ann, the least recently active, is compacted
    state.guardFor('dan'); // four senders: ann is forgotten, and bob compacted
    assert.is(state.senderCount, 3);
    state.changed();
    await state.flush();
    const file = JSON.parse(await fs.readFile(state.path, 'utf8')) as { senders: Array<{ user: string; guard: { floor: number; seen: number[] } }> };
    assert.equal(file.senders.map((s) => s.user), ['bob', 'cat', 'dan'], 'least recently active first');
    assert.equal([file.senders[0].guard.floor, file.senders[0].guard.seen], [3, []], 'bob keeps only his highest counter');
    assert.equal(file.senders[1].guard.seen, [1], 'cat keeps a full window');

    const reopened = await WhisperState.open(dir, options);
    const bob = reopened.guardFor('bob');
    assert.not.ok(bob.wouldAccept(2), 'below the compacted floor: refused as old');
    assert.ok(bob.wouldAccept(4));
    assert.ok(reopened.guardFor('ann').wouldAccept(7), 'a forgotten sender starts afresh');
  }),
));

test('a damaged file is E_CORRUPT_FILE and left untouched', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, WHISPER_STATE_FILE_NAME);
    for (const text of ['not json', '{"v":1,"kind":"other"}', '{"v":1,"kind":"securechat-whisper-state","counter":{"v":1,"last":-1},"senders":[]}',
      '{"v":1,"kind":"securechat-whisper-state","counter":{"v":1,"last":1},"senders":[{"user":"bad name","guard":{}}]}']) {
      await fs.writeFile(file, text, { mode: 0o600 });
      await rejectsWith(WhisperState.open(dir), 'E_CORRUPT_FILE', text);
      assert.is(await fs.readFile(file, 'utf8'), text);
    }
  }),
));

test.run();
