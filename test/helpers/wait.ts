/**
 * Waiting in tests. Wait on the event itself (a promise on it, or a later event that proves an
 * earlier one would have arrived); where state announces no event, poll it here, bounded.
 */

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
