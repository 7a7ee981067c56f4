/**
 * One catalogue of stable error codes for the wire, the relay, the client core and the CLIs.
 * Tests assert codes, never message text; users see `message`, written for them.
 */
export const ERROR_CODES = {
  // wire and protocol
  E_PROTOCOL: 'the peer sent something that is not valid securechat protocol',
  E_FRAME_TOO_LARGE: 'a frame was larger than the limit',
  E_VERSION: 'protocol version not supported',
  E_HANDSHAKE_TIMEOUT: 'the TLS handshake took too long',
  E_LOGIN_TIMEOUT: 'login took too long',
  E_IDLE_TIMEOUT: 'nothing was heard from the peer for too long',
  E_SLOW_READER: 'the connection could not keep up with its traffic',
  E_SHUTDOWN: 'the relay is shutting down',
  E_REPLACED: 'this account logged in from somewhere else',
  E_INTERNAL: 'internal error',
  E_STORE_UNAVAILABLE: 'the relay cannot reach its store right now; the message was not stored, send it again',
  E_ADDRESS_IN_USE: 'the relay could not listen: the address is in use',
  // PROXY protocol front (relay behind HAProxy); E_PROXY_HEADER carries `details.fault`
  E_PROXY_HEADER: 'the PROXY protocol v2 header was missing, malformed or not supported',
  E_PROXY_TIMEOUT: 'the PROXY protocol header did not arrive in time',
  E_PROXY_UNTRUSTED: 'a connection came from an address that is not a trusted proxy',
  // accounts
  E_NOT_LOGGED_IN: 'log in first',
  E_ALREADY_LOGGED_IN: 'already logged in',
  E_AUTH: 'wrong user name or password',
  E_BAD_TOKEN: 'the session token is no longer valid; log in again',
  E_BAD_TICKET: 'the relay pipe ticket is unknown, used or expired',
  E_PIPE_TIMEOUT: 'the other side of the relay pipe did not arrive in time',
  E_PIPE_BUDGET: 'the relay pipe budget (bytes or time) is used up',
  E_RELAY_LINK: 'this relay could not reach the relay holding the other side of the pipe; try again',
  E_RATE: 'too many attempts; wait and try again',
  E_REGISTRATION_CLOSED: 'this relay does not accept new accounts',
  E_USER_EXISTS: 'that user name is taken',
  E_WEAK_PASSWORD: 'password too short',
  E_PASSWORD_TOO_LONG: 'password too long',
  E_BAD_NAME: 'invalid name',
  // rooms and routing
  E_NOT_IN_GLOBAL: 'this command works only from the global room',
  E_IN_GLOBAL: 'you are already in the global room',
  E_ROOM_EXISTS: 'a room with that name exists',
  E_NO_SUCH_ROOM: 'no such room',
  E_ALREADY_IN_ROOM: 'you are already in that room',
  E_NO_SUCH_USER: 'no such user',
  E_NOT_IN_ROOM: 'that user is not in your room',
  E_SELF: 'you cannot do that to yourself',
  E_TOO_LARGE: 'too large',
  E_FLOOD: 'sending too fast; slow down',
  // client side
  E_CONNECT: 'could not connect to the relay',
  E_TLS: 'the TLS connection failed',
  E_PROXY: 'the SOCKS5 proxy could not be reached or did not answer as one',
  E_PROXY_AUTH: 'the SOCKS5 proxy refused the user name and password',
  E_PROXY_REFUSED: 'the SOCKS5 proxy would not connect to the relay',
  E_FINGERPRINT_MISMATCH: 'the relay certificate does not match the pinned fingerprint',
  E_FINGERPRINT_CHANGED: 'the relay certificate changed since it was first trusted',
  E_UNTRUSTED: 'the relay certificate is not trusted',
  E_CLOSED: 'the connection is closed',
  E_TIMEOUT: 'the relay did not answer in time',
  E_USAGE: 'wrong usage',
  E_UNKNOWN_COMMAND: 'unknown command',
  E_DATA_LOCKED: 'the data folder is in use by a running relay',
  // file transfer (tui/core/transfer)
  E_REJECTED: 'the other side declined the file',
  E_CANCELLED: 'the transfer was cancelled',
  E_PEER_GONE: 'the other side went away and did not come back in time; send the file again later',
  E_TRANSFER_TIMEOUT: 'the transfer could not be set up in time; check both sides are online and try again',
  E_FILE_TOO_LARGE: 'the file is larger than the receiver accepts',
  E_NO_SPACE: 'not enough free disk space for the file; free some space or choose another folder',
  E_FILE_CHANGED: 'the file changed on disk while it was being sent; send it again once it is final',
  E_HASH_MISMATCH: 'the received file does not match the sender\'s hash; the partial file was kept for inspection',
  E_PATH_REFUSED: 'that file name or folder cannot be used; it was refused for safety',
  E_PEER_AUTH: 'a connection could not prove it is the expected peer and was closed',
  E_FILE_UNREADABLE: 'the file cannot be read (missing, not a regular file, or no permission)',
  E_NO_SUCH_TRANSFER: 'no such transfer',
  E_TRANSFER_STATE: 'the transfer is not in a state that allows this',
  // whispers (end-to-end)
  E_NO_KEY: 'no public key is known for that user',
  E_KEY_CHANGED: "that user's key changed and is not trusted yet; compare with /verify, accept with /trust",
  E_DECRYPT: 'a whisper could not be decrypted (tampered, damaged or for another key)',
  E_REPLAY: 'a whisper was received twice (replayed) and was dropped',
  E_MISADDRESSED: 'a whisper was addressed to someone else and was dropped',
  E_BAD_KEYS: 'the public keys are malformed or their signature does not match',
  E_PASSPHRASE: 'wrong or missing passphrase for the identity key file',
  E_CORRUPT_FILE: 'a local key file is damaged or not in the expected format; it was left untouched',
  E_BAD_PREKEY: "a device's prekey is malformed or not signed by that device's identity key",
  E_NO_PREKEYS: 'that user has published no prekeys (no device can start a session yet)',
  E_DOWNGRADE: "the relay served no prekeys for a contact whose keys say it publishes them; nothing was sent (the v1 envelope, without forward secrecy, is refused): try again later, and ask the relay's operator if it persists",
  E_TOO_MANY_PREKEYS: 'the relay already holds as many one-time prekeys for this device as it keeps',
  // relay storage and certificates
  E_CERT: 'the certificate or key file is missing or invalid',
  E_STORE_CONFIG: "the relay's Redis store is not set up safely (it needs appendonly yes and maxmemory-policy noeviction)",
  // room files (stored on the relay)
  E_NO_SUCH_FILE: 'no such file in this room',
  E_QUOTA: 'the relay has no room for that file (your quota or its total is used up)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Refusals of a send that say "not now" rather than "no": nothing was stored or delivered, and
 * the same request sent again after `retryAfterMs` is expected to go through. The client core
 * puts such a send back in its queue instead of failing it.
 */
export const SEND_AGAIN_LATER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_FLOOD', 'E_STORE_UNAVAILABLE']);

/**
 * Errors after which reconnecting cannot help (or would do harm, like fighting another login
 * of the same account): the client core stops and says why instead of retrying.
 */
export const CONNECT_FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'E_FINGERPRINT_CHANGED',
  'E_FINGERPRINT_MISMATCH',
  'E_UNTRUSTED',
  'E_AUTH',
  'E_PROXY_AUTH',
  'E_VERSION',
  'E_REGISTRATION_CLOSED',
  'E_USER_EXISTS',
  'E_BAD_NAME',
  'E_WEAK_PASSWORD',
  'E_PASSWORD_TOO_LONG',
  'E_REPLACED',
  'E_USAGE',
  'E_PASSPHRASE',
  'E_CORRUPT_FILE',
  'E_BAD_KEYS',
]);

/** The relay's certificate was refused (changed, or not the pinned one): the TUI exits with its own status. */
export const TRUST_REFUSED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_FINGERPRINT_CHANGED', 'E_FINGERPRINT_MISMATCH']);

/** After the user trusted a new relay, a connection that died meanwhile (the relay's login timer) is tried once more. */
export const RETRY_AFTER_TRUST_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_CLOSED', 'E_TLS', 'E_LOGIN_TIMEOUT']);

/**
 * The peer's account is gone: a file transfer to or from it cannot go on. (Offline is
 * E_NOT_IN_ROOM: it may come back, the transfer's own timers decide.)
 */
export const PEER_GONE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_NO_SUCH_USER']);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/** The one error class of securechat: a stable code plus a message for people. */
export class ChatError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for the caller (e.g. `retryAfterMs`, both fingerprints). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, details: Record<string, unknown> = {}) {
    super(message ?? ERROR_CODES[code]);
    this.name = 'ChatError';
    this.code = code;
    this.details = details;
  }
}

export function chatError(code: ErrorCode, message?: string, details?: Record<string, unknown>): ChatError {
  return new ChatError(code, message, details);
}

/**
 * Any thrown value as a ChatError: a ChatError as it is, anything else under `fallback`
 * (default E_INTERNAL) with its message. The one conversion, for every catch that reports.
 */
export function asChatError(error: unknown, fallback: ErrorCode = 'E_INTERNAL'): ChatError {
  if (error instanceof ChatError) return error;
  return new ChatError(fallback, error instanceof Error ? error.message : String(error));
}
