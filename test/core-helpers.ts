import { ChatError } from '../shared/errors.js';

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
