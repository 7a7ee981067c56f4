import type { ChatError } from '../../shared/errors.js';
import { errorEvent, type ChatEvent, type ChatEventOf, type ChatEventType } from './events.js';

type AnyListener = (event: ChatEvent) => void;

/** A listener's bug must not corrupt the client's state half-way through a dispatch; it still surfaces as an uncaught exception, as with EventEmitter. */
function callListener(listener: AnyListener, event: ChatEvent): void {
  try {
    listener(event);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** The client's listeners: typed events (one type, or all with '*') and raw data frames. */
export class EventHub {
  private readonly listeners = new Map<string, Set<AnyListener>>();
  private readonly dataListeners = new Set<(payload: Buffer) => void>();
  /** What every listener sees of an event (null: nothing); the client hides ignored users with it. */
  private filter: ((event: ChatEvent) => ChatEvent | null) | null = null;

  /** Sets the one filter events pass before any listener (ignore-list.ts `withoutIgnored`). */
  setFilter(filter: (event: ChatEvent) => ChatEvent | null): void {
    this.filter = filter;
  }

  /** Listens to one event type, or to all with '*'. Returns a function that stops listening. */
  on<T extends ChatEventType>(type: T, listener: (event: ChatEventOf<T>) => void): () => void;
  on(type: '*', listener: (event: ChatEvent) => void): () => void;
  on(type: string, listener: (event: never) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const fn = listener as AnyListener;
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** Listens to data frames from the relay (relay pipe traffic). */
  onData(listener: (payload: Buffer) => void): () => void {
    this.dataListeners.add(listener);
    return () => {
      this.dataListeners.delete(listener);
    };
  }

  emit(event: ChatEvent): void {
    const shown = this.filter === null ? event : this.filter(event);
    if (shown === null) return;
    this.emitTo(this.listeners.get(shown.type), shown);
    this.emitTo(this.listeners.get('*'), shown);
  }

  emitError(error: ChatError, command?: string): void {
    this.emit(errorEvent(error, command));
  }

  emitData(payload: Buffer): void {
    for (const listener of this.dataListeners) listener(payload);
  }

  /** Calls each listener of a set as it was when the event came (one event per room message: no copies for the usual single listener). */
  private emitTo(set: Set<AnyListener> | undefined, event: ChatEvent): void {
    if (set === undefined || set.size === 0) return;
    if (set.size === 1) {
      for (const listener of set) callListener(listener, event);
      return;
    }
    for (const listener of [...set]) callListener(listener, event);
  }
}
