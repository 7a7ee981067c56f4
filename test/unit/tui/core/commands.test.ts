import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatClient } from '../../../../tui/core/client.js';
import { closestName, commands, createCommandRegistry, parseCommandLine, type ParsedLine } from '../../../../tui/core/commands.js';
import { command, errorCode } from '../../../helpers/core-helpers.js';

test('plain text is said; //text says /text; blank lines are empty', () => {
  assert.equal(parseCommandLine('hello there'), { kind: 'say', text: 'hello there' });
  assert.equal(parseCommandLine('  indented /not a command'), { kind: 'say', text: '  indented /not a command' });
  assert.equal(parseCommandLine('//join is a command'), { kind: 'say', text: '/join is a command' });
  assert.equal(parseCommandLine('hello\r'), { kind: 'say', text: 'hello' });
  assert.equal(parseCommandLine(''), { kind: 'empty' });
  assert.equal(parseCommandLine('   \t'), { kind: 'empty' });
  assert.equal(parseCommandLine('\r'), { kind: 'empty' });
});

test('commands without arguments', () => {
  for (const [line, name] of [
    ['/users', 'users'],
    ['/chatrooms', 'chatrooms'],
    ['/rooms', 'chatrooms'],
    ['/leave', 'leave'],
    ['/ping', 'ping'],
    ['/exit', 'exit'],
    ['/quit', 'exit'],
    ['/USERS', 'users'],
    ['/users   ', 'users'],
    ['/leave\r', 'leave'],
  ]) {
    assert.equal(command(line), { name, args: null }, line);
  }
  for (const line of ['/users bob', '/chatrooms x', '/leave now', '/ping 3', '/exit please']) {
    assert.is(errorCode(line), 'E_USAGE', line);
  }
});

test('/verify and /trust take exactly one valid user name', () => {
  assert.equal(command('/verify bob'), { name: 'verify', args: 'bob' });
  assert.equal(command('/trust  Bob.2 '), { name: 'trust', args: 'Bob.2' });
  assert.is(errorCode('/verify'), 'E_USAGE');
  assert.is(errorCode('/trust a b'), 'E_USAGE');
  assert.is(errorCode('/trust b@d'), 'E_BAD_NAME');
});

test('/create and /join take exactly one valid room name', () => {
  assert.equal(command('/create lobby'), { name: 'create', args: 'lobby' });
  assert.equal(command('/join   Lobby-2 '), { name: 'join', args: 'Lobby-2' });
  assert.is(errorCode('/create'), 'E_USAGE');
  assert.is(errorCode('/join'), 'E_USAGE');
  assert.is(errorCode('/join a b'), 'E_USAGE');
  assert.is(errorCode('/create bad/name'), 'E_BAD_NAME');
  assert.is(errorCode('/join global'), 'E_BAD_NAME');
  assert.is(errorCode('/create ' + 'x'.repeat(33)), 'E_BAD_NAME');
});

test('/whisper USER MESSAGE keeps the message as typed', () => {
  assert.equal(command('/whisper bob hi there  you'), { name: 'whisper', args: { to: 'bob', text: 'hi there  you' } });
  assert.equal(command('/w bob x'), { name: 'whisper', args: { to: 'bob', text: 'x' } });
  assert.equal(command('/msg bob  two spaces'), { name: 'whisper', args: { to: 'bob', text: ' two spaces' } });
  assert.is(errorCode('/whisper'), 'E_USAGE');
  assert.is(errorCode('/whisper bob'), 'E_USAGE');
  assert.is(errorCode('/whisper bob    '), 'E_USAGE');
  assert.is(errorCode('/whisper b@d hi'), 'E_BAD_NAME');
});

test('/history [N]', () => {
  assert.equal(command('/history'), { name: 'history', args: undefined });
  assert.equal(command('/history 20'), { name: 'history', args: 20 });
  assert.equal(command('/history 10000'), { name: 'history', args: 10000 });
  for (const bad of ['/history 0', '/history -1', '/history 1.5', '/history ten', '/history 10001', '/history 1 2']) {
    assert.is(errorCode(bad), 'E_USAGE', bad);
  }
});

test('usage errors carry the usage string; unknown commands are E_UNKNOWN_COMMAND', () => {
  const parsed = parseCommandLine('/whisper') as Extract<ParsedLine, { kind: 'error' }>;
  assert.is(parsed.error.details.usage, '/whisper USER MESSAGE');
  assert.is(parsed.name, 'whisper');
  assert.is(errorCode('/frobnicate'), 'E_UNKNOWN_COMMAND');
  assert.is(errorCode('/'), 'E_UNKNOWN_COMMAND');
  assert.is(errorCode('/ hello'), 'E_UNKNOWN_COMMAND');
  assert.is(errorCode('/help'), 'E_UNKNOWN_COMMAND', '/help belongs to the TUI');
});

test('habits from IRC: /part, /list, /names, /msg, /query, /quit; a typo gets the nearest command', () => {
  for (const [typed, name] of [['part', 'leave'], ['list', 'chatrooms'], ['names', 'users'], ['msg', 'whisper'], ['query', 'whisper'], ['quit', 'exit']]) {
    assert.is(commands.get(typed)?.name, name, typed);
  }
  const typo = (line: string) => (parseCommandLine(line) as Extract<ParsedLine, { kind: 'error' }>).error;
  assert.is(typo('/prat').message, 'unknown command "/prat"; did you mean /part?');
  assert.is(typo('/prat').details.suggestion, 'part');
  assert.is(typo('/wisper bob hi').message, 'unknown command "/wisper"; did you mean /whisper?');
  assert.is(typo('/JION lobby').message, 'unknown command "/JION"; did you mean /join?');
  assert.is(typo('/frobnicate').message, 'unknown command "/frobnicate"; try /help', 'nothing near: the help');
  assert.is(typo('/x').message, 'unknown command "/x"; try /help', 'one letter is no typo of anything');
  assert.is(closestName('lsit', ['leave', 'list', 'users']), 'list');
  assert.is(closestName('zzzz', ['leave', 'list']), undefined);
});

test('/me ACTION says the action with the /me prefix; a bare /me is a usage error', async () => {
  const parsed = parseCommandLine('/me waves at everyone');
  assert.ok(parsed.kind === 'command' && parsed.command.name === 'me');
  if (parsed.kind !== 'command') return;
  const said: string[] = [];
  await parsed.command.run({ maxMessageBytes: 4096, say: async (text: string) => said.push(text) } as never, parsed.args);
  assert.equal(said, ['/me waves at everyone']);
  assert.is(errorCode('/me'), 'E_USAGE');
  assert.is(errorCode('/me   '), 'E_USAGE');
});

test('every command has a name, usage and help; names are unique', () => {
  const names = commands.list().map((c) => c.name);
  assert.equal(names, ['users', 'away', 'back', 'ignore', 'unignore', 'whisper', 'me', 'verify', 'trust', 'create', 'join', 'chatrooms', 'leave', 'history', 'send', 'accept', 'reject', 'cancel', 'transfers', 'upload', 'files', 'download', 'ping', 'exit']);
  for (const c of commands.list()) {
    assert.ok(c.usage.startsWith('/' + c.name), c.name);
    assert.ok(c.help.length > 0, c.name);
  }
  assert.ok(commands.names().includes('/quit'));
});

test('a copy can be extended (the TUI adds /help and /clear) without changing the shared one', async () => {
  const tui = commands.clone();
  let cleared = false;
  tui.add({
    name: 'clear',
    usage: '/clear',
    help: 'clear the screen',
    parse: () => null,
    run: async () => {
      cleared = true;
    },
  });
  const parsed = parseCommandLine('/clear', tui);
  assert.is(parsed.kind, 'command');
  if (parsed.kind === 'command') await parsed.command.run({} as ChatClient, parsed.args);
  assert.ok(cleared);
  assert.is(parseCommandLine('/clear').kind, 'error');
  assert.throws(() => tui.add({ name: 'quit', usage: '/quit', help: '', parse: () => null, run: async () => {} }));
  assert.is(createCommandRegistry().list().length, commands.list().length);
});

test('run calls the matching client method', async () => {
  const calls: unknown[][] = [];
  const fake = new Proxy(
    {},
    {
      get: (_t, method: string) =>
        method === 'maxMessageBytes'
          ? 16
          : async (...args: unknown[]) => {
              calls.push([method, ...args]);
            },
    },
  ) as ChatClient;
  for (const line of ['/users', '/away gone fishing', '/away', '/back', '/ignore Eve', '/ignore', '/unignore eve', '/whisper bob psst', '/whisper bob one two three four five', '/me waves at everyone here', '/verify Bob', '/trust bob', '/create r1', '/join r2', '/rooms', '/leave', '/history 5', '/history', '/ping', '/quit']) {
    const parsed = parseCommandLine(line);
    if (parsed.kind !== 'command') throw new Error(line);
    await parsed.command.run(fake, parsed.args);
  }
  assert.equal(calls, [
    ['users'],
    ['away', 'gone fishing'],
    ['away', undefined],
    ['away'],
    ['ignore', 'Eve'],
    ['ignore', undefined],
    ['unignore', 'eve'],
    ['whisper', 'bob', 'psst'],
    // Longer than maxMessageBytes (16 here): several, in order, cut at spaces; /me keeps its prefix on each.
    ['whisper', 'bob', 'one two three'],
    ['whisper', 'bob', 'four five'],
    ['say', '/me waves at'],
    ['say', '/me everyone'],
    ['say', '/me here'],
    ['verify', 'Bob'],
    ['trust', 'bob'],
    ['create', 'r1'],
    ['join', 'r2'],
    ['rooms'],
    ['leave'],
    ['history', 5],
    ['history', undefined],
    ['ping'],
    ['exit'],
  ]);
});

test.run();
