/**
 * What both stores (LevelStore, RedisStore) do the same way, written once: resume tokens (made,
 * hashed, checked in constant time), audit records (clipped fields), page limits and the
 * background-error reporter. Only the storing differs between them.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditEvent, AuditRecord } from './store.js';

/** Audit events older than this are deleted (default of both stores' `auditRetentionMs`). */
export const DEFAULT_AUDIT_RETENTION_MS = 365 * 24 * 60 * 60_000;
/** Audit writes are gathered for this long so a burst of logins becomes one write. */
export const AUDIT_FLUSH_DELAY_MS = 10;
/** Audit events waiting for the store beyond this are dropped (oldest first) to bound memory. */
export const AUDIT_QUEUE_MAX = 10_000;
/** Audit fields come partly from the network (user names of failed logins); cap their size. */
const AUDIT_FIELD_MAX_CHARS = 256;
/** Longer strings cannot be tokens we issued (43 base64url characters). */
const TOKEN_MAX_CHARS = 128;

/** A new resume token (43 base64url characters) and the hash under which it is stored. */
export function newResumeToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: tokenHash(token) };
}

/** The key a token is stored under: hex SHA-256, so the store never holds the token itself. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** False for anything that cannot be a token we issued (checked before any lookup). */
export function isTokenShaped(token: unknown): token is string {
  return typeof token === 'string' && token.length > 0 && token.length <= TOKEN_MAX_CHARS;
}

/** Whether a token's owner is `userKey`, compared in constant time (hashes of equal length). */
export function isTokenOwner(ownerKey: string, userKey: string): boolean {
  return timingSafeEqual(createHash('sha256').update(ownerKey).digest(), createHash('sha256').update(userKey).digest());
}

/** The record of an audit event at `time`, its network-sourced fields clipped. */
export function auditRecord(event: AuditEvent, time: number): AuditRecord {
  const record: AuditRecord = { event: event.event, time };
  const user = clip(event.user);
  const address = clip(event.address);
  const detail = clip(event.detail);
  if (user !== undefined) record.user = user;
  if (address !== undefined) record.address = address;
  if (detail !== undefined) record.detail = detail;
  return record;
}

function clip(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const s = String(text);
  return s.length > AUDIT_FIELD_MAX_CHARS ? s.slice(0, AUDIT_FIELD_MAX_CHARS) + '…' : s;
}

/** A page size from the caller: a whole number >= 0 (NaN and infinities count as 0). */
export function wholeLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
}

/** Reports a background failure; a reporter that throws itself is ignored (nothing sensible is left to do). */
export function reportSafely(onError: (error: unknown) => void, error: unknown): void {
  try {
    onError(error);
  } catch {
    // the error reporter itself failed
  }
}
