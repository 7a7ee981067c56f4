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
