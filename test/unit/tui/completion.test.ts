import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TabCompleter, complete, completionTarget, matchesFor, type CompletionSources } from '../../../tui/completion.js';
import { createTuiCommands } from '../../../tui/tui-commands.js';

const sources: CompletionSources = {
  commands: createTuiCommands().names(),
  nicks: ['bob', 'Bobby', 'carol', 'Dave'],
  rooms: ['lobby', 'Lounge', 'dev'],
};

test('the target: a command at the line start, a nick elsewhere, a room or user as a command argument', () => {
  assert.equal(completionTarget('/jo', 3), { kind: 'command', start: 0, end: 3, word: '/jo', suffix: ' ' });
  assert.equal(completionTarget('bo', 2), { kind: 'nick', start: 0, end: 2, word: 'bo', suffix: ': ' });
  assert.equal(completionTarget('hi bo', 5), { kind: 'nick', start: 3, end: 5, word: 'bo', suffix: ' ' });
  assert.equal(completionTarget('/join lo', 8).kind, 'room');
  assert.equal(completionTarget('/JOIN lo', 8).kind, 'room');
  assert.equal(completionTarget('/whisper b', 10).kind, 'nick');
  assert.equal(completionTarget('/w b', 4).suffix, ' ');
  assert.equal(completionTarget('/msg  b', 7).kind, 'nick');
  // The message of a whisper completes nicks too.
  assert.equal(completionTarget('/whisper bob ca', 15), { kind: 'nick', start: 13, end: 15, word: 'ca', suffix: ' ' });
  // Mid-word: the whole word is replaced.
  assert.equal(completionTarget('hi bob!', 5), { kind: 'nick', start: 3, end: 7, word: 'bo', suffix: ' ' });
  // Cursor out of range is clamped.
  assert.equal(completionTarget('x', 99).end, 1);
  assert.equal(completionTarget('', 0), { kind: 'nick', start: 0, end: 0, word: '', suffix: ': ' });
});

test('matches ignore case, are sorted without case, and are unique per folded name', () => {
  assert.equal(matchesFor('bo', sources.nicks), ['bob', 'Bobby']);
  assert.equal(matchesFor('BO', sources.nicks), ['bob', 'Bobby']);
  assert.equal(matchesFor('', ['b', 'A', 'c']), ['A', 'b', 'c']);
  assert.equal(matchesFor('x', sources.nicks), []);
  assert.equal(matchesFor('a', ['alice', 'Alice', 'ALICE']), ['alice']);
});

test('complete: commands, nicks (with ": " at the line start), rooms', () => {
  assert.equal(complete('/he', 3, sources), { line: '/help ', cursor: 6, matches: ['/help'], index: 0 });
  assert.equal(complete('/cr', 3, sources)?.line, '/create ');
  assert.equal(complete('/chat', 5, sources)?.line, '/chatrooms ');
  assert.equal(complete('ca', 2, sources), { line: 'carol: ', cursor: 7, matches: ['carol'], index: 0 });
  assert.equal(complete('hi da', 5, sources)?.line, 'hi Dave ');
  assert.equal(complete('/join lou', 9, sources)?.line, '/join Lounge ');
  assert.equal(complete('/whisper car', 12, sources)?.line, '/whisper carol ');
  assert.is(complete('/zzz', 4, sources), null);
  assert.is(complete('zed', 3, sources), null);
});

test('complete keeps the text after the cursor and does not double a space', () => {
  assert.equal(complete('hi ca how are you', 5, sources), { line: 'hi carol how are you', cursor: 9, matches: ['carol'], index: 0 });
  assert.equal(complete('ca how', 2, sources), { line: 'carol: how', cursor: 7, matches: ['carol'], index: 0 });
  assert.equal(complete('hi ca', 5, sources)?.line, 'hi carol ');
});

test('Tab cycles through the matches and wraps; Shift-Tab goes back', () => {
  const tab = new TabCompleter();
  let r = tab.next('b', 1, sources)!;
  assert.is(r.line, 'bob: ');
  r = tab.next(r.line, r.cursor, sources)!;
  assert.is(r.line, 'Bobby: ');
  assert.is(r.index, 1);
  r = tab.next(r.line, r.cursor, sources)!;
  assert.is(r.line, 'bob: ');
  r = tab.previous(r.line, r.cursor, sources)!;
  assert.is(r.line, 'Bobby: ');
  // Typing something else starts over.
  r = tab.next('hi c', 4, sources)!;
  assert.is(r.line, 'hi carol ');
  // Shift-Tab first picks the last match.
  const back = new TabCompleter();
  assert.is(back.previous('b', 1, sources)?.line, 'Bobby: ');
});

test('cycling through commands that share a prefix', () => {
  const tab = new TabCompleter();
  const seen: string[] = [];
  let line = '/';
  let cursor = 1;
  const all = createTuiCommands().names();
  for (let i = 0; i < all.length; i += 1) {
    const r = tab.next(line, cursor, sources)!;
    seen.push(r.line.trim());
    line = r.line;
    cursor = r.cursor;
  }
  assert.equal(seen, all);
  assert.ok(seen.includes('/help') && seen.includes('/clear') && seen.includes('/whisper') && seen.includes('/w'));
});

test('no match resets the cycle; reset() forgets it; an empty word offers every nick', () => {
  const tab = new TabCompleter();
  assert.is(tab.next('zz', 2, sources), null);
  const r = tab.next('b', 1, sources)!;
  assert.is(r.line, 'bob: ');
  tab.reset();
  // Forgotten: Tab now completes the empty word after "bob: " instead of cycling to Bobby.
  assert.is(tab.next(r.line, r.cursor, sources)?.line, 'bob: bob ');
  assert.is(complete('', 0, sources)?.matches.length, 4);
});

test('wide characters and surrogate pairs before the word do not shift the positions', () => {
  const r = complete('你好 👍 ca', '你好 👍 ca'.length, sources)!;
  assert.is(r.line, '你好 👍 carol ');
  assert.is(r.cursor, r.line.length);
});

test.run();
