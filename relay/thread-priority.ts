/**
 * Lowers the scheduling priority of the calling thread only, so a CPU-heavy helper thread
 * (argon2id hashing) yields to the relay's event loop on a small machine.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The nice value hash threads give themselves (0 is normal; 19 the lowest priority). */
export const HASH_THREAD_NICE = 10;

/**
 * Linux lets a thread renice itself by its thread id (/proc/thread-self names it); raising a
 * nice value needs no privilege. Elsewhere, or when refused, the thread keeps its priority.
 * Returns whether it was lowered.
 */
export function lowerThisThreadPriority(nice: number = HASH_THREAD_NICE): boolean {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    if (!Number.isInteger(threadId) || threadId <= 0) return false;
    setPriority(threadId, nice);
    return true;
  } catch {
    return false;
  }
}
