import { ChatError, asChatError } from '../../shared/errors.js';
import { splitMessage } from './split-message.js';
import { commands, needsConnection, parseCommandLine, type Command, type CommandClient, type CommandRegistry } from './commands.js';

/** The client as the dispatcher sees it: the commands' target, its state, and `say`. */
export interface LineClient extends CommandClient {
  readonly state: string;
  say(text: string): Promise<unknown>;
}

/**
 * What a front end (the TUI, the JSON mode, `ChatClient.run`) does at each turn of a line.
 * Every hook a line reaches is called synchronously from `dispatchLine`, before its first
 * await, so a front end can act on the input at once (the TUI clears its input line there).
 */
export interface LineFrontEnd {
  /** Null while the front end has no client (the TUI after a failed start). */
  readonly client: LineClient | null;
  /** Default: the core's registry. */
  readonly registry?: CommandRegistry;
  /** The line could not be read: an unknown command, a usage error, a bad name. */
  refused(error: ChatError, name: string | undefined): void;
  /** Text for the current room. Default: `client.say`, awaited; a failure goes to `failed` as "say". */
  say?(text: string): Promise<unknown> | void;
  /** A `local` command: the front end runs it on its own context. Default: refused as unknown. */
  local?(command: Command<any, any>, args: unknown): void;
  /** A command that `ends` the session: the front end leaves its own way. Default: run like any other. */
  ends?(command: Command<any, any>, args: unknown): void;
  /** A command that `needsConnection` while the client is not online. Default: run anyway (it fails with E_CLOSED). */
  notConnected?(command: Command<any, any>, client: LineClient | null): void;
  /** A command about to run (the TUI takes the input line). A `job` returns what is told its end instead of done/failed. */
  started?(command: Command<any, any>, args: unknown): JobWatcher | void;
  /** A command's result. */
  done?(command: Command<any, any>, result: unknown): void;
  /** A command (or the default `say`) failed; `name` is the command's name. */
  failed(error: ChatError, name: string): void;
}

/** Told how a long-running command (`job`) ended. */
export interface JobWatcher {
  done(result: unknown): void;
  failed(error: ChatError): void;
}

/** What became of a line. */
export type LineOutcome = 'empty' | 'refused' | 'said' | 'local' | 'ends' | 'held' | 'done' | 'failed';

/**
 * The one dispatcher of input lines: parse with the front end's registry, then say, run a
 * local command, end, hold, or run a relay command, by the command's flags. Resolves once
 * the line is done with (a relay command awaited; what `say` returns awaited); never rejects.
 */
export async function dispatchLine(line: string, frontEnd: LineFrontEnd): Promise<LineOutcome> {
  const parsed = parseCommandLine(line, frontEnd.registry ?? commands);
  switch (parsed.kind) {
    case 'empty':
      return 'empty';
    case 'error':
      frontEnd.refused(parsed.error, parsed.name);
      return 'refused';
    case 'say':
      return sayAll(frontEnd, parsed.text);
    case 'command':
      break;
  }
  const { command, args } = parsed;
  if (command.local === true) {
    if (!frontEnd.local) {
      frontEnd.refused(new ChatError('E_UNKNOWN_COMMAND', `unknown command "/${command.name}"; try /help`, { name: command.name }), command.name);
      return 'refused';
    }
    frontEnd.local(command, args);
    return 'local';
  }
  if (command.ends === true && frontEnd.ends) {
    frontEnd.ends(command, args);
    return 'ends';
  }
  const client = frontEnd.client;
  if (needsConnection(command) && frontEnd.notConnected && client?.state !== 'online') {
    frontEnd.notConnected(command, client);
    return 'held';
  }
  const job = frontEnd.started?.(command, args) ?? undefined;
  try {
    if (!client) throw new ChatError('E_CLOSED', 'not connected to the relay');
    const result = await command.run(client, args);
    if (job) job.done(result);
    else frontEnd.done?.(command, result);
    return 'done';
  } catch (error) {
    const e = asChatError(error);
    if (job) job.failed(e);
    else frontEnd.failed(e, command.name);
    return 'failed';
  }
}

/**
 * Text longer than one message goes as several, split at word boundaries (split-message.ts),
 * each through `say` in order (the client's queue keeps that order on the wire).
 */
async function sayAll(frontEnd: LineFrontEnd, text: string): Promise<LineOutcome> {
  const limit = frontEnd.client?.maxMessageBytes;
  const parts = limit === undefined ? [text] : splitMessage(text, limit);
  const outcomes = await Promise.all(parts.map((part) => say(frontEnd, part)));
  return outcomes.includes('failed') ? 'failed' : 'said';
}

async function say(frontEnd: LineFrontEnd, text: string): Promise<LineOutcome> {
  try {
    if (frontEnd.say) await frontEnd.say(text);
    else if (frontEnd.client) await frontEnd.client.say(text);
    else throw new ChatError('E_CLOSED', 'not connected to the relay');
  } catch (error) {
    frontEnd.failed(asChatError(error), 'say');
    return 'failed';
  }
  return 'said';
}
