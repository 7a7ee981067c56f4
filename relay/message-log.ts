import type { RelayStore, StoredMessage } from './store.js';

/**
 * Writes room messages to LevelDB in batches: everything appended while one batch is being
 * written goes into the next. Batches complete in order, so acknowledgements and broadcasts
 * (done by `onCommitted`) follow sequence order, and every message is stored before anyone
 * hears of it.
 */
export class MessageLog {
  private pending: Array<{ message: StoredMessage; settle: (error?: unknown) => void }> = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: RelayStore,
    private readonly onCommitted: (messages: StoredMessage[]) => void,
  ) {}

  /** Resolves once the message is stored (and `onCommitted` has run for its batch). */
  append(message: StoredMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ message, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.writing) this.writing = this.writeLoop();
    });
  }

  /** Resolves when everything appended so far is written (for a clean shutdown). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    // Let the current tick's appends join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const messages = batch.map((entry) => entry.message);
      let failure: unknown;
      try {
        await this.store.appendMessages(messages);
      } catch (error) {
        failure = error ?? new Error('write failed');
      }
      if (failure === undefined) this.onCommitted(messages);
      for (const entry of batch) entry.settle(failure);
    }
    this.writing = undefined;
  }
}
