import { safeLine } from '../sanitize.js';
import { COLOURS, bg, bold, fg } from './style.js';
import { padToWidth } from './text-width.js';
import { wrapText } from './wrap.js';

/**
 * The two trust pages. A relay seen for the first time: its fingerprint, in groups to read
 * aloud and compare with what its operator printed, and a yes/no question (trust on first
 * use, as SSH asks). A relay whose certificate changed, or does not match the pinned one: a
 * full-screen refusal showing both fingerprints and what to do; it cannot be waved through
 * from here (the user must edit known_relays or the pin on purpose).
 */

/** `sha256:3f1a9c...` as `3f1a 9c0b ...` in rows of eight groups. */
export function fingerprintRows(fingerprint: string): string[] {
  const hex = safeLine(fingerprint).replace(/^sha256:/, '');
  const groups = hex.match(/.{1,4}/g) ?? [];
  const rows: string[] = [];
  for (let i = 0; i < groups.length; i += 8) rows.push(groups.slice(i, i + 8).join(' '));
  return rows;
}

function centre(rows: string[], height: number): string[] {
  const top = Math.max(0, Math.floor((height - rows.length) / 3));
  return [...Array(top).fill(''), ...rows].slice(0, Math.max(0, height));
}

function paragraph(text: string, width: number, indent: string): string[] {
  const w = Math.max(10, width - indent.length);
  return wrapText(text, w, w).map((row) => indent + row);
}

export function trustPromptRows(server: string, fingerprint: string, width: number, height: number): string[] {
  const indent = '  ';
  const rows: string[] = [];
  rows.push(indent + bold(`First connection to ${safeLine(server)}`));
  rows.push('');
  rows.push(...paragraph('No certificate authority vouches for this relay, and it is not in your list of known relays. Its certificate fingerprint is:', width, indent));
  rows.push('');
  for (const row of fingerprintRows(fingerprint)) rows.push(indent + '    ' + bold(fg(COLOURS.highlight, row)));
  rows.push('');
  rows.push(...paragraph('Compare it with the fingerprint the relay printed when it started (ask its operator). If they match, trust it: securechat remembers it and will refuse the relay if the certificate ever changes.', width, indent));
  rows.push('');
  rows.push(indent + bold('Trust this relay?  ') + fg(COLOURS.ok, '[y] yes, remember it') + '   ' + fg(COLOURS.error, '[n] no, go back'));
  return centre(rows, height);
}

export interface RefusalFacts {
  code: string;
  server?: string;
  /** Recorded or pinned fingerprint. */
  old?: string;
  /** Presented now. */
  new?: string;
  /** The known-relays file, when the old one came from it. */
  file?: string;
}

/** Reads both fingerprints from a trust error's details (E_FINGERPRINT_CHANGED or _MISMATCH). */
export function refusalFacts(code: string, details: Record<string, unknown>): RefusalFacts {
  const text = (value: unknown) => (typeof value === 'string' ? safeLine(value) : undefined);
  if (code === 'E_FINGERPRINT_MISMATCH') return { code, server: text(details.server), old: text(details.expected), new: text(details.actual) };
  return { code, server: text(details.server), old: text(details.old), new: text(details.new), file: text(details.file) };
}

export function refusalRows(facts: RefusalFacts, width: number, height: number): string[] {
  const indent = '  ';
  const banner = facts.code === 'E_FINGERPRINT_MISMATCH' ? 'THE RELAY DOES NOT MATCH THE PINNED FINGERPRINT' : 'THE RELAY CERTIFICATE HAS CHANGED';
  const rows: string[] = [];
  rows.push(bg(COLOURS.error, bold(fg(231, padToWidth(` ${banner} — NOT CONNECTING`, Math.max(1, width)))))) ;
  rows.push('');
  rows.push(...paragraph(`The relay at ${facts.server ?? 'this address'} presented a different certificate from the one ${facts.code === 'E_FINGERPRINT_MISMATCH' ? 'you pinned with --fingerprint' : 'you trusted before'}. Someone may be intercepting the connection, or the operator replaced the certificate.`, width, indent));
  rows.push('');
  rows.push(indent + bold(facts.code === 'E_FINGERPRINT_MISMATCH' ? 'pinned:' : 'trusted before:'));
  for (const row of fingerprintRows(facts.old ?? '')) rows.push(indent + '    ' + fg(COLOURS.ok, row));
  rows.push(indent + bold('presented now:'));
  for (const row of fingerprintRows(facts.new ?? '')) rows.push(indent + '    ' + bold(fg(COLOURS.error, row)));
  rows.push('');
  const advice =
    facts.code === 'E_FINGERPRINT_MISMATCH'
      ? 'Ask the relay operator for the current fingerprint before changing --fingerprint.'
      : `Ask the relay operator whether the certificate really changed. If it did, remove the line for ${facts.server ?? 'the relay'} from ${facts.file ?? 'your known_relays file'} and connect again.`;
  rows.push(...paragraph(advice, width, indent));
  rows.push('');
  rows.push(indent + fg(COLOURS.system, 'Press q or Enter to quit.'));
  return centre(rows, height);
}
