/**
 * Reading a password for the CLIs: from a file, from piped stdin, or typed at a terminal
 * without echo.
 */
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ChatError } from '../shared/errors.js';

/** Longest first line read from a file or a pipe, bytes: far above any password limit. */
const MAX_LINE_BYTES = 64 * 1024;

/** The first line of `text` without its line ending. */
export function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

/** The first line of a password file; E_USAGE when the file cannot be read. */
export async function readPasswordFile(file: string): Promise<string> {
  try {
    return firstLine(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ChatError('E_USAGE', `cannot read the password file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The first line of a non-interactive stream (a pipe), read up to the first newline or the end. */
export function readFirstLine(input: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (error?: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
      if (error) reject(error);
      else resolve(firstLine(text));
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (/\r?\n/.test(text) || text.length > MAX_LINE_BYTES) finish();
    };
    const onEnd = () => finish();
    const onError = (error: Error) => finish(error);
    input.setEncoding?.('utf8');
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}

interface TtyInput extends Readable {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

/**
 * Ask for a secret at a terminal without echoing it. Enter ends the input, Backspace edits,
 * Ctrl-C / Ctrl-D on an empty line reject with E_USAGE ('cancelled').
 */
export function promptHidden(question: string, input: TtyInput = process.stdin, output: Writable = process.stderr): Promise<string> {
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw === true;
    let secret = '';
    // Raw mode first: anything typed after the question appears must not be echoed.
    input.setRawMode?.(true);
    input.setEncoding?.('utf8');
    output.write(question);
    const done = (error?: Error) => {
      input.off('data', onData);
      input.setRawMode?.(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(secret);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || (ch === '\u0004' && secret.length === 0)) return done(new ChatError('E_USAGE', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') secret = [...secret].slice(0, -1).join('');
        else if (ch >= ' ') secret += ch;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}

/** Ask twice without echo; E_USAGE when the two entries differ. */
export async function promptNewPassword(input?: TtyInput, output?: Writable): Promise<string> {
  const first = await promptHidden('New password: ', input, output);
  const second = await promptHidden('Repeat password: ', input, output);
  if (first !== second) throw new ChatError('E_USAGE', 'the two passwords differ');
  return first;
}
