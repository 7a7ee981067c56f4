/**
 * Waiting in tests. Wait on the event itself (a promise on it, or a later event that proves an
 * earlier one would have arrived); where state announces no event, poll it here, bounded.
 */
import type { ChatClient } from '../../tui/core/client.js';
import type { ChatEventOf, ChatEventType } from '../../tui/core/events.js';

/**
 * Polls `condition` every `everyMs` until it holds (for state that announces no event),
 * failing after `timeoutMs`.
 */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The next `type` event of `client` that `match` accepts (listening starts now); fails after `timeoutMs`. */
export function nextEvent<T extends ChatEventType>(
  client: ChatClient,
  type: T,
  match: (event: ChatEventOf<T>) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<ChatEventOf<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = client.on(type, (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}
