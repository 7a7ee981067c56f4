import * as assert from 'uvu/assert';
import { ChatError } from '../../shared/errors.js';

/** Asserts that `promise` rejects with a ChatError of `code`, and returns that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ChatError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ChatError);
    assert.is((error as ChatError).code, code);
    return error as ChatError;
  }
  assert.unreachable(`expected ${code}`);
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
