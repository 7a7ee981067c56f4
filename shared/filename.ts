import path from 'node:path';
import { ChatError } from './errors.js';

/**
 * File names that arrive from the network are never used as paths. A name is reduced to one
 * harmless path segment (neutralised) or refused with E_PATH_REFUSED. Pure; no file system.
 *
 * What is neutralised (and reported as `changed`):
 * - directories: `../../etc/passwd` and `C:\x\y.txt` keep only their last segment;
 * - control characters (C0, DEL, C1), bidirectional overrides and zero-width characters,
 *   which could hide the real extension or drive a terminal, are removed;
 * - characters Windows refuses (`< > : " | ? *`) become `_`;
 * - leading dots (hidden files, `..`), leading/trailing spaces and trailing dots are removed;
 * - Windows device names (`CON`, `nul.txt`, `COM1`...) get a `_` prefix;
 * - names longer than {@link MAX_FILE_NAME_BYTES} UTF-8 bytes are shortened, keeping the
 *   extension, so `<name> (99).part` still fits the usual 255-byte limit.
 *
 * What is refused: non-strings, names over {@link MAX_RAW_NAME_CHARS} characters, and names
 * that are empty once neutralised (`..`, `/`, `...`, only control characters).
 */
export const MAX_FILE_NAME_BYTES = 200;
/** Longer raw input is refused outright rather than cut down (no legitimate name is this long). */
export const MAX_RAW_NAME_CHARS = 4096;
/** Suffix of the file a receiver writes to until the hash has been checked. */
export const PARTIAL_SUFFIX = '.part';

export type SanitizedFileName =
  | { ok: true; name: string; changed: boolean }
  | { ok: false; code: 'E_PATH_REFUSED'; reason: string };

// C0 controls, DEL, C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// Bidi marks/overrides/isolates, zero-width characters, BOM, line and paragraph separators.
const INVISIBLE = /[\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
// Unpaired UTF-16 surrogates cannot be encoded as UTF-8 file names.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const WINDOWS_FORBIDDEN = /[<>:"|?*]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?$/i;
const MAX_KEPT_EXTENSION_BYTES = 16;

function refuse(reason: string): SanitizedFileName {
  return { ok: false, code: 'E_PATH_REFUSED', reason };
}

/** Reduces an untrusted name to one safe path segment, or refuses it. Never throws. */
export function sanitizeFileName(raw: unknown): SanitizedFileName {
  if (typeof raw !== 'string') return refuse('the name is not text');
  if (raw.length === 0) return refuse('the name is empty');
  if (raw.length > MAX_RAW_NAME_CHARS) return refuse(`the name is longer than ${MAX_RAW_NAME_CHARS} characters`);

  let name = raw.normalize('NFC').replace(LONE_SURROGATE, '\ufffd');
  // Only the last segment survives; both separators count whatever platform we run on,
  // because the sender's platform is unknown.
  const segments = name.split(/[\\/]/).filter((segment) => segment.length > 0);
  name = segments.length > 0 ? segments[segments.length - 1] : '';
  name = name.replace(CONTROL, '').replace(INVISIBLE, '').replace(WINDOWS_FORBIDDEN, '_');
  name = name.trim().replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (WINDOWS_DEVICE.test(name)) name = `_${name}`;
  name = truncateUtf8KeepingExtension(name, MAX_FILE_NAME_BYTES);
  if (name.length === 0) return refuse('nothing usable is left of the name');
  return { ok: true, name, changed: name !== raw };
}

/** {@link sanitizeFileName}, throwing `ChatError('E_PATH_REFUSED')` when the name is refused. */
export function safeFileName(raw: unknown): string {
  const result = sanitizeFileName(raw);
  if (!result.ok) throw new ChatError('E_PATH_REFUSED', `file name refused: ${result.reason}`);
  return result.name;
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Cuts on code point boundaries so the result is still valid UTF-8. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8Bytes(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const codePoint of text) {
    const size = utf8Bytes(codePoint);
    if (bytes + size > maxBytes) break;
    out += codePoint;
    bytes += size;
  }
  return out;
}

function truncateUtf8KeepingExtension(name: string, maxBytes: number): string {
  if (utf8Bytes(name) <= maxBytes) return name;
  const ext = path.posix.extname(name);
  if (ext.length > 1 && utf8Bytes(ext) <= MAX_KEPT_EXTENSION_BYTES) {
    const stem = truncateUtf8(name.slice(0, -ext.length), maxBytes - utf8Bytes(ext)).replace(/[.\s]+$/, '');
    return stem.length > 0 ? stem + ext : truncateUtf8(name, maxBytes);
  }
  return truncateUtf8(name, maxBytes).replace(/[.\s]+$/, '');
}

/**
 * Names to try, in order, when `name` is taken in the target folder: `a.txt`, `a (1).txt`,
 * `a (2).txt`... up to `a (limit).txt`. Pure; the caller checks existence.
 */
export function* alternativeNames(name: string, limit = 99): Generator<string> {
  yield name;
  const ext = path.posix.extname(name);
  const stem = ext.length > 0 && ext.length < name.length ? name.slice(0, -ext.length) : name;
  const suffixExt = stem === name ? '' : ext;
  for (let i = 1; i <= limit; i++) yield `${stem} (${i})${suffixExt}`;
}

/**
 * Joins a sanitized name to a folder and proves the result is a direct child of that folder
 * (defence in depth: the name must already have passed {@link sanitizeFileName}).
 * Throws `ChatError('E_PATH_REFUSED')` otherwise.
 */
export function resolveInside(directory: string, name: string): string {
  const checked = sanitizeFileName(name);
  if (!checked.ok || checked.name !== name) {
    throw new ChatError('E_PATH_REFUSED', 'file name refused: not a plain, sanitized name');
  }
  const folder = path.resolve(directory);
  const target = path.resolve(folder, name);
  if (path.dirname(target) !== folder || path.basename(target) !== name) {
    throw new ChatError('E_PATH_REFUSED', 'file name refused: it would leave the target folder');
  }
  return target;
}
