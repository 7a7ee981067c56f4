import type { AppendOutcome, MessageDraft, RelayStore, StoredMessage } from './store.js';

/**
 * Hands room messages to the store in batches: everything appended while one batch is being
 * written goes into the next. The store numbers them; batches complete in order, so
 * acknowledgements and broadcasts (done by `onCommitted`, for messages stored now rather than
 * recognised as retries) follow sequence order, and every message is stored before anyone
 * hears of it.
 */
export class MessageLog {
  private pending: Array<{ draft: MessageDraft; settle: (outcome: AppendOutcome | undefined, error?: unknown) => void }> = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: RelayStore,
    private readonly onCommitted: (messages: StoredMessage[]) => void,
  ) {}

  /** Resolves once the message is stored (and `onCommitted` has run for its batch). */
  append(draft: MessageDraft): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.pending.push({ draft, settle: (outcome, error) => (outcome ? resolve(outcome) : reject(error)) });
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
      let outcomes: AppendOutcome[] | undefined;
      let failure: unknown;
      try {
        outcomes = await this.store.appendMessages(batch.map((entry) => entry.draft));
      } catch (error) {
        failure = error ?? new Error('write failed');
      }
      if (outcomes) this.onCommitted(outcomes.filter((outcome) => !outcome.duplicate).map((outcome) => outcome.message));
      batch.forEach((entry, i) => entry.settle(outcomes?.[i], failure));
    }
    this.writing = undefined;
  }
}
