import { ChatError } from '../../shared/errors.js';
import type { RelayMessage } from '../../shared/messages.js';

/**
 * While the client logs in, the relay's answers are read in order, one `await` at a time
 * (hello, welcome, login, session, joined, catch-up pages): this queue holds what arrived
 * and hands it out. It fails every reader once the connection is gone.
 */
export class Inbox {
  private readonly queue: RelayMessage[] = [];
  private waiter: { resolve(m: RelayMessage): void; reject(e: ChatError): void } | null = null;
  private failure: ChatError | null = null;

  push(message: RelayMessage): void {
    if (this.waiter) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(message);
    } else {
      this.queue.push(message);
    }
  }

  fail(reason: ChatError): void {
    if (this.failure) return;
    this.failure = reason;
    if (this.waiter) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(reason);
    }
  }

  /** The next message; rejects with E_LOGIN_TIMEOUT at `deadline` (ms since the epoch) or with the close reason. */
  next(deadline: number): Promise<RelayMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new ChatError('E_LOGIN_TIMEOUT', 'the relay did not finish the login in time'));
      }, Math.max(0, deadline - Date.now()));
      this.waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Everything still queued (handed to the normal dispatch once logged in). */
  takeAll(): RelayMessage[] {
    return this.queue.splice(0);
  }
}
