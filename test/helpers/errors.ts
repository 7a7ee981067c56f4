import * as assert from 'uvu/assert';
import { ChatError, type ErrorCode } from '../../shared/errors.js';

/** Asserts that `promise` rejects with a ChatError of `code`, and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string, what?: string): Promise<ChatError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ChatError);
    assert.is((error as ChatError).code, code, what);
    return error as ChatError;
  }
  assert.unreachable(`expected ${code}${what === undefined ? '' : `: ${what}`}`);
  throw new Error('unreachable');
}

/** Asserts that `run` (sync or async) throws a ChatError of `code`, and returns that error. */
export function expectCode(code: string, run: () => unknown): Promise<ChatError> {
  return rejectsWith(Promise.resolve().then(run), code);
}

/** The ChatError `promise` rejects with, whatever its code (fails the test on anything else). */
export async function errorOf(promise: Promise<unknown>): Promise<ChatError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ChatError);
    return error as ChatError;
  }
  throw new Error('expected a ChatError');
}

/** The code `promise` rejects with, or 'resolved' when it does not reject (for tests that table both outcomes). */
export async function codeOrResolved(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as ChatError).code;
  }
  return 'resolved';
}

/** The code of the ChatError `run` (a promise, or a sync or async function) fails with (fails the test on anything else). */
export async function failure(run: Promise<unknown> | (() => unknown)): Promise<string> {
  return (await errorOf(typeof run === 'function' ? Promise.resolve().then(run) : run)).code;
}

/** The code of the ChatError `run` throws at once (fails the test if it returns or throws anything else). */
export function thrownCode(run: () => unknown): ErrorCode {
  try {
    run();
  } catch (error) {
    assert.instance(error, ChatError);
    return (error as ChatError).code;
  }
  throw new Error('expected a ChatError');
}
