import type { AppendOutcome, MessageDraft, RelayStore, StoredMessage } from './store.js';

interface PendingAppend {
  draft: MessageDraft;
  settle: (outcome: AppendOutcome | undefined, error?: unknown) => void;
}

/**
 * Hands room messages to the store in batches: everything appended in one tick goes into one
 * batch, and while `maxInFlight` batches are being written the rest wait for the next. The store
 * numbers drafts in call order (a RelayStore rule), so batches may be written at the same time
 * (RedisStore pipelines them on one connection: a message waits for one round trip, not for the
 * batch ahead of it as well); they complete here strictly in order, so acknowledgements and
 * broadcasts (done by `onCommitted`, for messages stored now rather than recognised as retries)
 * follow sequence order, and every message is stored before anyone hears of it.
 */
export class MessageLog {
  private pending: PendingAppend[] = [];
  private scheduled = false;
  private inFlight = 0;
  /** The settlement of the newest batch sent; each batch settles after the one before it. */
  private settled: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: RelayStore,
    private readonly onCommitted: (messages: StoredMessage[]) => void,
    private readonly maxInFlight = store.appendsInFlight,
  ) {}

  /** Resolves once the message is stored (and `onCommitted` has run for its batch). */
  append(draft: MessageDraft): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.pending.push({ draft, settle: (outcome, error) => (outcome ? resolve(outcome) : reject(error)) });
      this.schedule();
    });
  }

  /** Resolves when everything appended so far is written (for a clean shutdown). */
  async flush(): Promise<void> {
    for (;;) {
      await this.settled;
      if (this.inFlight === 0 && this.pending.length === 0) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    // Let the current tick's appends join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.write();
    });
  }

  private write(): void {
    if (this.pending.length === 0 || this.inFlight >= this.maxInFlight) return;
    const batch = this.pending;
    this.pending = [];
    this.inFlight += 1;
    const written = this.store.appendMessages(batch.map((entry) => entry.draft)).then(
      (outcomes) => ({ outcomes, failure: undefined }),
      (error: unknown) => ({ outcomes: undefined, failure: error ?? new Error('write failed') }),
    );
    this.settled = this.settled
      .then(async () => {
        const { outcomes, failure } = await written;
        this.inFlight -= 1;
        try {
          if (outcomes) this.onCommitted(outcomes.filter((outcome) => !outcome.duplicate).map((outcome) => outcome.message));
        } finally {
          batch.forEach((entry, i) => entry.settle(outcomes?.[i], failure));
          this.schedule();
        }
      })
      // A throwing onCommitted is the caller's bug; the batches after it must still settle.
      .catch(() => undefined);
  }
}
