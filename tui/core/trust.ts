import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../shared/errors.js';

/**
 * Deciding whether the relay at the other end of a TLS connection is the one we mean.
 *
 * In order:
 * 1. a pinned fingerprint (`--fingerprint`): the certificate must hash to it, nothing else counts;
 * 2. a certificate that TLS verified (system CAs, or the `--ca` file instead of them, and the
 *    host name) is trusted; with `--ca` given, nothing else is;
 * 3. the known-relays file (trust on first use, like SSH's known_hosts): a recorded
 *    fingerprint must match, a changed one is refused showing both;
 * 4. a relay seen for the first time is trusted only with `--tofu` (or when `confirmNew`,
 *    e.g. the TUI asking the user, says yes), and then recorded.
 */
export interface TrustOptions {
  /** PEM certificate(s) to trust instead of the system CAs. */
  ca?: string | Buffer;
  /** A pinned certificate fingerprint, `sha256:<hex>`. */
  fingerprint?: string;
  /** Trust a relay seen for the first time and record it. */
  tofu?: boolean;
  /** Asked about a relay seen for the first time when `tofu` is off; true trusts and records it. */
  confirmNew?: (relay: { server: string; fingerprint: string }) => boolean | Promise<boolean>;
}

/** How the relay was trusted. */
export type TrustBasis = 'pin' | 'ca' | 'known' | 'tofu';

export interface TrustDecision {
  fingerprint: string;
  basis: TrustBasis;
  /** Set when the relay was trusted for the first time: whether it was written to the file. */
  recorded?: boolean;
}

export interface PeerCertificateFacts {
  /** `host:port` as the known-relays file names it. */
  server: string;
  /** The leaf certificate, DER. */
  der: Buffer;
  /** Whether TLS verified the chain and the host name. */
  authorized: boolean;
  /** Why TLS did not, e.g. DEPTH_ZERO_SELF_SIGNED_CERT. */
  authorizationError?: string;
}

const FINGERPRINT_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** 'sha256:' + lowercase hex SHA-256 of the certificate's DER (X509Certificate.fingerprint256 without colons). */
export function fingerprintOfDer(der: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(der).digest('hex');
}

export function isFingerprint(value: unknown): value is string {
  return typeof value === 'string' && FINGERPRINT_PATTERN.test(value);
}

/**
 * Accepts `sha256:<hex>`, `SHA256:AA:BB:...` (openssl / fingerprint256 style) or bare hex and
 * returns the canonical `sha256:<lowercase hex>`. Throws E_USAGE otherwise.
 */
export function normalizeFingerprint(input: string): string {
  let text = input.trim();
  if (/^sha-?256:/i.test(text)) text = text.slice(text.indexOf(':') + 1);
  const hex = text.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new ChatError('E_USAGE', `"${input}" is not a SHA-256 fingerprint (expected sha256: followed by 64 hex digits)`);
  }
  return 'sha256:' + hex;
}

// ---- the known-relays file ---------------------------------------------------------------

/** Parses known_relays text: `host:port sha256:hex` per line; `#` comments and blank or malformed lines are ignored. */
export function parseKnownRelays(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [server, fingerprint, ...rest] = line.split(/\s+/);
    if (rest.length > 0 || !server || !isFingerprint(fingerprint)) continue;
    // The first entry wins, as in known_hosts: a later line cannot quietly override an earlier one.
    if (!entries.has(server)) entries.set(server, fingerprint);
  }
  return entries;
}

export function formatKnownRelayLine(server: string, fingerprint: string): string {
  return `${server} ${fingerprint}\n`;
}

/** The known-relays file (`<configDir>/known_relays`). Read fresh on every lookup: another client may have added to it. */
export class KnownRelays {
  constructor(readonly file: string) {}

  async entries(): Promise<Map<string, string>> {
    try {
      return parseKnownRelays(await fs.readFile(this.file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return new Map();
      throw error;
    }
  }

  async lookup(server: string): Promise<string | undefined> {
    return (await this.entries()).get(server);
  }

  /** Appends `server fingerprint` (creating the folder 0700 and the file 0600); no-op if already there. */
  async record(server: string, fingerprint: string): Promise<void> {
    if (/\s/.test(server) || !isFingerprint(fingerprint)) throw new ChatError('E_USAGE', 'bad known-relays entry');
    const existing = await this.lookup(server);
    if (existing === fingerprint) return;
    if (existing !== undefined) {
      throw new ChatError('E_FINGERPRINT_CHANGED', `${server} is already recorded with another fingerprint`, {
        server,
        old: existing,
        new: fingerprint,
        file: this.file,
      });
    }
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await fs.appendFile(this.file, formatKnownRelayLine(server, fingerprint), { mode: 0o600 });
  }
}

// ---- the decision ------------------------------------------------------------------------

/** Decides whether to trust the relay (see the order above); throws E_FINGERPRINT_MISMATCH, E_FINGERPRINT_CHANGED or E_UNTRUSTED. */
export async function verifyRelay(peer: PeerCertificateFacts, trust: TrustOptions, known: KnownRelays): Promise<TrustDecision> {
  const fingerprint = fingerprintOfDer(peer.der);

  if (trust.fingerprint !== undefined) {
    const pinned = normalizeFingerprint(trust.fingerprint);
    if (pinned === fingerprint) return { fingerprint, basis: 'pin' };
    throw new ChatError(
      'E_FINGERPRINT_MISMATCH',
      `the relay at ${peer.server} presented certificate ${fingerprint}, not the pinned ${pinned}; ` +
        'someone may be intercepting the connection, or the relay has a new certificate (ask its operator)',
      { server: peer.server, expected: pinned, actual: fingerprint },
    );
  }

  if (peer.authorized) return { fingerprint, basis: 'ca' };
  if (trust.ca !== undefined) {
    throw new ChatError(
      'E_UNTRUSTED',
      `the relay at ${peer.server} has certificate ${fingerprint}, which the given CA does not vouch for (${peer.authorizationError ?? 'unverified'})`,
      { server: peer.server, fingerprint, reason: peer.authorizationError },
    );
  }

  const recorded = await known.lookup(peer.server);
  if (recorded === fingerprint) return { fingerprint, basis: 'known' };
  if (recorded !== undefined) {
    throw new ChatError(
      'E_FINGERPRINT_CHANGED',
      `the relay at ${peer.server} changed its certificate: it was ${recorded} and is now ${fingerprint}. ` +
        'Someone may be intercepting the connection. If the operator confirms the new fingerprint, ' +
        `remove the line for ${peer.server} from ${known.file} and connect again.`,
      { server: peer.server, old: recorded, new: fingerprint, file: known.file },
    );
  }

  const accepted = trust.tofu === true || (trust.confirmNew !== undefined && (await trust.confirmNew({ server: peer.server, fingerprint })));
  if (!accepted) {
    throw new ChatError(
      'E_UNTRUSTED',
      `the relay at ${peer.server} has a certificate no CA vouches for (${peer.authorizationError ?? 'unverified'}); ` +
        `its fingerprint is ${fingerprint}. Compare it with the one the relay printed, then connect with ` +
        `--fingerprint ${fingerprint} or --tofu (trust it from now on).`,
      { server: peer.server, fingerprint, reason: peer.authorizationError },
    );
  }
  try {
    await known.record(peer.server, fingerprint);
    return { fingerprint, basis: 'tofu', recorded: true };
  } catch (error) {
    // A racing client may have recorded another fingerprint meanwhile: that is a change, refuse it.
    if (error instanceof ChatError) throw error;
    // An unwritable config folder does not stop this session; the event says it was not recorded.
    return { fingerprint, basis: 'tofu', recorded: false };
  }
}
