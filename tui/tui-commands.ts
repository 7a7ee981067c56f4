import { ChatError } from '../shared/errors.js';
import { createCommandRegistry, noArgs, type Command, type CommandRegistry } from './core/commands.js';
import { searchScrollback } from './view/search.js';
import type { ViewModel } from './view/state.js';

/** What the TUI's local commands act on: the screen's model and the session, never the relay. */
export interface LocalTarget {
  readonly model: ViewModel;
  readonly registry: CommandRegistry;
  reconnect(): void;
}

/**
 * The TUI's command registry: every command of the core's registry (so commands added there
 * appear here and in /help by themselves) plus the `local` ones that act on the screen only;
 * the dispatcher hands those to the session, which runs them on its LocalTarget.
 */
function local<A>(command: Omit<Command<A, LocalTarget>, 'local'>): Command<A, LocalTarget> {
  return { ...command, local: true };
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
  run: async (target, name) => {
    for (const text of helpLines(target.registry, name)) target.model.system(text);
  },
});

const clear = local(
  noArgs<LocalTarget>('clear', [], 'clear the messages on screen (the relay keeps the room log; /history brings it back)', async (target) =>
    target.model.clearCurrent(),
  ),
);

const reconnect = local(noArgs<LocalTarget>('reconnect', [], 'connect again after the connection was given up (offline)', async (target) => target.reconnect()));

const search = local<string>({
  name: 'search',
  aliases: ['lastlog'],
  usage: '/search TEXT',
  help: "list this window's lines that contain TEXT (any case), with their time (Ctrl-R starts one; irssi's /lastlog)",
  parse(args) {
    const text = args.trim();
    if (text === '') throw new ChatError('E_USAGE', 'usage: /search TEXT', { usage: '/search TEXT' });
    return text;
  },
  run: async (target, text) => target.model.system(searchScrollback(target.model.current, text, target.model.currentTime())),
});

const LOCAL = [help, clear, reconnect, search];

/** The names of the TUI's local commands. */
export const LOCAL_COMMANDS: ReadonlySet<string> = new Set(LOCAL.map((command) => command.name));

/** A fresh registry: the core's commands, then /help, /clear, /reconnect and /search. */
export function createTuiCommands(): CommandRegistry {
  const registry = createCommandRegistry();
  for (const command of LOCAL) registry.add(command);
  return registry;
}

/** Keys that are not commands, for /help. */
export const KEY_HELP = [
  'Tab / Shift-Tab  complete a command or nick (again to cycle); a path after /send USER or /upload, an id after /accept or /download',
  'Up / Down        walk the input history',
  'PgUp / PgDn      scroll the messages',
  'Ctrl-R           search this window: puts /search before the input line (type the text, Enter), as WeeChat\'s Ctrl-R',
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
    return [`${command.usage}${alsoCalled(command)}`, `  ${command.help}`];
  }
  const commands = registry.list();
  const width = Math.max(...commands.map((c) => c.usage.length));
  const lines = ['commands (text without a slash goes to the room; //text sends "/text"):'];
  for (const command of commands) lines.push(`  ${command.usage.padEnd(width)}  ${command.help}${alsoCalled(command)}`);
  lines.push('keys:');
  for (const line of KEY_HELP) lines.push(`  ${line}`);
  return lines;
}

/** ` (also /a, /b)` for a command with aliases, else nothing. */
function alsoCalled(command: { aliases?: string[] }): string {
  return command.aliases?.length ? ` (also ${command.aliases.map((a) => '/' + a).join(', ')})` : '';
}
