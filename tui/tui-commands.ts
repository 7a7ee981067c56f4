import { ChatError } from '../shared/errors.js';
import { createCommandRegistry, type Command, type CommandRegistry } from './core/commands.js';

/**
 * The TUI's command registry: every command of the core's registry (so commands added there
 * appear here and in /help by themselves) plus the ones that act on the screen only. Local
 * commands are recognised by name in `LOCAL_COMMANDS`; their `run` is never called with a
 * client.
 */
export const LOCAL_COMMANDS = new Set(['help', 'clear', 'reconnect']);

function local<A>(command: Omit<Command<A>, 'run'>): Command<A> {
  return {
    ...command,
    run: () => Promise.reject(new ChatError('E_INTERNAL', `/${command.name} is handled by the TUI`)),
  };
}

const help = local<string | undefined>({
  name: 'help',
  usage: '/help [COMMAND]',
  help: 'list the commands, or show how to use one',
  parse(args) {
    const words = args.trim().split(/\s+/).filter(Boolean);
    if (words.length > 1) throw new ChatError('E_USAGE', 'usage: /help [COMMAND]', { usage: '/help [COMMAND]' });
    return words[0]?.replace(/^\//, '').toLowerCase();
  },
});

const clear = local<null>({
  name: 'clear',
  usage: '/clear',
  help: 'clear the messages on screen (the relay keeps the room log; /history brings it back)',
  parse(args) {
    if (args.trim() !== '') throw new ChatError('E_USAGE', 'usage: /clear', { usage: '/clear' });
    return null;
  },
});

const reconnect = local<null>({
  name: 'reconnect',
  usage: '/reconnect',
  help: 'connect again after the connection was given up (offline)',
  parse(args) {
    if (args.trim() !== '') throw new ChatError('E_USAGE', 'usage: /reconnect', { usage: '/reconnect' });
    return null;
  },
});

/** A fresh registry: the core's commands, then /help, /clear and /reconnect. */
export function createTuiCommands(): CommandRegistry {
  return createCommandRegistry().add(help).add(clear).add(reconnect);
}

/** Keys that are not commands, for /help. */
export const KEY_HELP = [
  'Tab / Shift-Tab  complete a command or nick (again to cycle); a path after /send USER or /upload, an id after /accept or /download',
  'Up / Down        walk the input history',
  'PgUp / PgDn      scroll the messages',
  'Ctrl-A/E/U/K/W   line start / end, delete to start / to end / word',
  'Ctrl-L           redraw the screen',
  'Esc              hide the key-change bar (the change still waits for /trust)',
  'Ctrl-C           quit at once (/exit waits until your messages are stored)',
];

/** /help text: every command with its usage and help (aliases too), or one command in detail. */
export function helpLines(registry: CommandRegistry, name?: string): string[] {
  if (name !== undefined) {
    const command = registry.get(name);
    if (!command) return [`no command /${name}; /help lists them`];
    const aliases = command.aliases?.length ? ` (also ${command.aliases.map((a) => '/' + a).join(', ')})` : '';
    return [`${command.usage}${aliases}`, `  ${command.help}`];
  }
  const commands = registry.list();
  const width = Math.max(...commands.map((c) => c.usage.length));
  const lines = ['commands (text without a slash goes to the room; //text sends "/text"):'];
  for (const command of commands) {
    const aliases = command.aliases?.length ? ` (also ${command.aliases.map((a) => '/' + a).join(', ')})` : '';
    lines.push(`  ${command.usage.padEnd(width)}  ${command.help}${aliases}`);
  }
  lines.push('keys:');
  for (const line of KEY_HELP) lines.push(`  ${line}`);
  return lines;
}
