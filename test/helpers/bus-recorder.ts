import type { BusHandlers, PresenceEvent, SealedMessage } from '../../relay/bus.js';
import type { StoredMessage } from '../../relay/store.js';

export type BusEvent =
  | { kind: 'roomMessage'; message: StoredMessage }
  | { kind: 'presence'; roomKey: string; roomName: string; userName: string; event: PresenceEvent }
  | { kind: 'away'; roomKey: string; roomName: string; userName: string; text: string | undefined }
  | { kind: 'sealed'; userKey: string; message: SealedMessage; roomKey: string | undefined }
  | { kind: 'replaced'; userKey: string }
  | { kind: 'returned'; userKey: string; relayId: string }
  | { kind: 'resubscribed'; roomKey: string }
  | { kind: 'cutOff'; reason: string };

type EventOf<K extends BusEvent['kind']> = Extract<BusEvent, { kind: K }>;

/**
 * The handlers of one bus, recording every call and waiting for calls, bounded by a failure
 * timeout (never asserted on: the machines are shared and noisy).
 */
export class BusRecorder implements BusHandlers {
  readonly events: BusEvent[] = [];
  private waiters: Array<{ match: (e: BusEvent) => boolean; resolve: (e: BusEvent) => void }> = [];

  constructor(private readonly waitMs = 15_000) {}

  roomMessage(message: StoredMessage): void {
    this.push({ kind: 'roomMessage', message });
  }
  presence(roomKey: string, roomName: string, userName: string, event: PresenceEvent): void {
    this.push({ kind: 'presence', roomKey, roomName, userName, event });
  }
  away(roomKey: string, roomName: string, userName: string, text: string | undefined): void {
    this.push({ kind: 'away', roomKey, roomName, userName, text });
  }
  sealed(userKey: string, message: SealedMessage, roomKey: string | undefined): void {
    this.push({ kind: 'sealed', userKey, message, roomKey });
  }
  replaced(userKey: string): void {
    this.push({ kind: 'replaced', userKey });
  }
  returned(userKey: string, relayId: string): void {
    this.push({ kind: 'returned', userKey, relayId });
  }
  resubscribed(roomKey: string): void {
    this.push({ kind: 'resubscribed', roomKey });
  }
  cutOff(reason: string): void {
    this.push({ kind: 'cutOff', reason });
  }

  /** Where the record stands now; pass it to `waitFor` to look only at later events. */
  mark(): number {
    return this.events.length;
  }

  of<K extends BusEvent['kind']>(kind: K, from = 0): EventOf<K>[] {
    return this.events.slice(from).filter((e): e is EventOf<K> => e.kind === kind);
  }

  /** The first `kind` event (from `from` on) that matches, now or when it comes. */
  waitFor<K extends BusEvent['kind']>(kind: K, match: (e: EventOf<K>) => boolean = () => true, from = 0): Promise<EventOf<K>> {
    const test = (e: BusEvent): boolean => e.kind === kind && match(e as EventOf<K>);
    const found = this.events.slice(from).find(test);
    if (found) return Promise.resolve(found as EventOf<K>);
    return new Promise((resolve, reject) => {
      const waiter = { match: test, resolve: (e: BusEvent) => (clearTimeout(timer), resolve(e as EventOf<K>)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${kind} event within ${this.waitMs} ms; saw ${JSON.stringify(this.events.slice(from))}`));
      }, this.waitMs);
      this.waiters.push(waiter);
    });
  }

  private push(event: BusEvent): void {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }
}
