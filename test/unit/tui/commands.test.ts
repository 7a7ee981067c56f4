import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createCommandRegistry, parseCommandLine } from '../../../tui/core/commands.js';
import { LOCAL_COMMANDS, createTuiCommands, helpLines } from '../../../tui/tui-commands.js';

test('the TUI registry has every core command plus /help, /clear and /reconnect', () => {
  const tui = createTuiCommands();
  for (const command of createCommandRegistry().list()) assert.ok(tui.get(command.name), command.name);
  for (const name of LOCAL_COMMANDS) assert.ok(tui.get(name), name);
  assert.ok(tui.names().includes('/help'));
});

test('/help lists every command with its usage and aliases; /help NAME shows one', () => {
  const tui = createTuiCommands();
  const all = helpLines(tui).join('\n');
  for (const command of tui.list()) assert.ok(all.includes(command.usage), command.usage);
  assert.ok(all.includes('/w, /msg'));
  assert.ok(all.includes('Tab'));
  assert.equal(helpLines(tui, 'w'), ['/whisper USER MESSAGE (also /w, /msg, /query)', '  send an end-to-end encrypted private message to USER (who must be in your room)']);
  assert.ok(helpLines(tui, 'nope')[0].includes('no command'));
});

test('local commands parse their arguments like the others', () => {
  const tui = createTuiCommands();
  const help = parseCommandLine('/help /JOIN', tui);
  assert.is(help.kind, 'command');
  if (help.kind === 'command') assert.is(help.args, 'join');
  const clear = parseCommandLine('/clear now', tui);
  assert.is(clear.kind, 'error');
  if (clear.kind === 'error') assert.is(clear.error.code, 'E_USAGE');
  assert.is(parseCommandLine('/help a b', tui).kind, 'error');
  assert.is(parseCommandLine('/reconnect', tui).kind, 'command');
});

test.run();
