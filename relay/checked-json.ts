/**
 * JSON from outside this process (Redis values and channels, relay links) read the one way:
 * anything that is not JSON, or not the expected shape, is `undefined`, never an exception,
 * so a corrupt or hostile value costs the caller a refusal and nothing more.
 */
import type { z } from 'zod';

/** Parsed JSON, or undefined for anything that is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `text` as JSON of `schema`'s shape, or undefined. */
export function parseChecked<S extends z.ZodTypeAny>(schema: S, text: string): z.infer<S> | undefined {
  const parsed = schema.safeParse(parseJson(text));
  return parsed.success ? (parsed.data as z.infer<S>) : undefined;
}
