import type { ChatClient } from '../../tui/core/client.js';
import type { ChatEvent, ChatEventOf, ChatEventType } from '../../tui/core/events.js';

/**
 * Records every event of one ChatClient and waits for events, bounded by a failure timeout
 * (never asserted on: the machines are shared and noisy).
 */
export class Recorder {
  readonly events: ChatEvent[] = [];
  private waiters: Array<{ match: (e: ChatEvent) => boolean; resolve: (e: ChatEvent) => void }> = [];

  constructor(readonly client: ChatClient, private readonly waitMs = 15_000) {
    client.on('*', (event) => {
      this.events.push(event);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(event)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    });
  }

  /** Where the record stands now; pass it to `waitFor` to look only at later events. */
  mark(): number {
    return this.events.length;
  }

  of<T extends ChatEventType>(type: T, from = 0): ChatEventOf<T>[] {
    return this.events.slice(from).filter((e): e is ChatEventOf<T> => e.type === type);
  }

  /** The first event of `type` (from `from` on) that matches, now or when it comes. */
  waitFor<T extends ChatEventType>(type: T, match: (e: ChatEventOf<T>) => boolean = () => true, from = 0): Promise<ChatEventOf<T>> {
    return this.waitForEvent((e) => e.type === type && match(e as ChatEventOf<T>), type, from) as Promise<ChatEventOf<T>>;
  }

  /** The first event (from `from` on) that matches, now or when it comes. */
  waitForEvent(match: (e: ChatEvent) => boolean, what = 'matching', from = 0): Promise<ChatEvent> {
    const found = this.events.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (e: ChatEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const last = this.events.filter((e) => e.type !== 'transfer-progress').slice(-6);
        reject(new Error(`no "${what}" event for ${this.client.user} within ${this.waitMs} ms; saw ${JSON.stringify(last)}`));
      }, this.waitMs);
      this.waiters.push(waiter);
    });
  }

  /** Room message texts seen (not own), in order. */
  texts(room?: string): string[] {
    return this.of('message')
      .filter((m) => !m.own && (room === undefined || m.room === room))
      .map((m) => m.text);
  }

  /** Error codes of whispers from `from` that were refused. */
  refused(from: string): string[] {
    return this.of('error')
      .filter((e) => e.details?.from === from)
      .map((e) => e.code);
  }
}
