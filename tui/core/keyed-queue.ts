/**
 * Tasks run one after another per key, and side by side across keys: whispers from one
 * sender are opened in arrival order (the replay guard and the key pins see them in that
 * order), whispers from different senders do not wait for each other.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` once every earlier task of `key` has settled. `task` must not reject. */
  run(key: string, task: () => Promise<void>): void {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(task);
    this.tails.set(key, next);
    void next.then(() => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    });
  }

  /** Resolves once every task queued so far (and any they queue) has settled. */
  async settled(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
