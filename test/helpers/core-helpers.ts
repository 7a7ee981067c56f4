import type { Test } from 'uvu';
import { ChatError } from '../../shared/errors.js';
import { parseCommandLine } from '../../tui/core/commands.js';

/**
 * uvu 0.5 cannot print an error whose `details` is not a string (ChatError's is an object):
 * its formatter throws, the suite stops silently and uvu still exits 0. Wrap test handlers
 * with this so such failures are reported as plain errors with their code.
 */
export function plainErrors<C>(handler: (ctx: C) => unknown): (ctx: C) => Promise<void> {
  return async (ctx: C) => {
    try {
      await handler(ctx);
    } catch (error) {
      if (error instanceof ChatError) throw new Error(`${error.code}: ${error.message} ${JSON.stringify(error.details)}`);
      throw error;
    }
  };
}

/** `spec` with every test wrapped in {@link plainErrors}; its hooks and `run` as they are. */
export function plainSuite<C>(spec: Test<C>) {
  const it = (name: string, handler: (ctx: C) => Promise<void>): void => spec(name, plainErrors(handler));
  return Object.assign(it, { before: spec.before, after: spec.after, run: spec.run });
}

/** A slash command line parsed: the command's name and its parsed arguments (fails the test otherwise). */
export function command(line: string): { name: string; args: unknown } {
  const parsed = parseCommandLine(line);
  if (parsed.kind !== 'command') throw new Error(`"${line}" parsed as ${parsed.kind}`);
  return { name: parsed.command.name, args: parsed.args };
}

/** The error code a command line is refused with (fails the test if it parses). */
export function errorCode(line: string): string {
  const parsed = parseCommandLine(line);
  if (parsed.kind !== 'error') throw new Error(`"${line}" parsed as ${parsed.kind}`);
  return parsed.error.code;
}
