/**
 * The benchmark message text: who sent it, its number in the sender's stream, and when it was
 * sent, padded to a typical chat line. Pure.
 *
 *   "17:42:123456789012:xxxxxxxx…"   sender 17, message 42, sent at 123456789012 µs
 *
 * Times are `process.hrtime` microseconds: Linux's monotonic clock, the same in every thread
 * and process of the machine, so one-way latency can be measured across them.
 */

/** A typical chat line (IRC lines average well under this). */
export const TYPICAL_TEXT_BYTES = 64;

export interface PayloadFields {
  sender: number;
  index: number;
  /** Send time, µs on the monotonic clock. */
  sentUs: number;
}

/** Monotonic time in microseconds (a double: exact for ~285 years of uptime). */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function makeText(fields: PayloadFields, bytes = TYPICAL_TEXT_BYTES): string {
  const head = `${fields.sender}:${fields.index}:${fields.sentUs}:`;
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length);
}

/** The fields of a benchmark text, or null for any other text. */
export function parseText(text: string): PayloadFields | null {
  const first = text.indexOf(':');
  const second = first < 0 ? -1 : text.indexOf(':', first + 1);
  const third = second < 0 ? -1 : text.indexOf(':', second + 1);
  if (third < 0) return null;
  const sender = Number(text.slice(0, first));
  const index = Number(text.slice(first + 1, second));
  const sentUs = Number(text.slice(second + 1, third));
  if (!Number.isInteger(sender) || !Number.isInteger(index) || !Number.isFinite(sentUs) || first === 0) return null;
  return { sender, index, sentUs };
}
