import type { Limits } from '../../shared/limits.js';
import type { BackoffPolicy } from './backoff.js';
import type { KdfLimits } from './identity-file.js';
import type { ProxySettings } from './proxy.js';
import type { ClientTransferOptions } from './transfer/manager.js';
import type { TrustOptions } from './trust.js';

/** A password, or a function asked for it each time one is needed (the TUI may prompt). */
export type PasswordSource = string | (() => string | Promise<string>);

export interface ChatClientOptions {
  /** `HOST:PORT` of the relay; or give `host` and `port`. Default `localhost:7443`. */
  server?: string;
  host?: string;
  port?: number;
  user: string;
  /** Needed to log in, to register, and when a resume token is refused after a reconnect. */
  password?: PasswordSource;
  /** Create the account on the first connect instead of logging in. */
  register?: boolean;
  /** How to verify the relay (trust.ts); default: system CAs, then the known-relays file. */
  trust?: TrustOptions;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Give up after this many failed reconnect attempts in a row (default: never). */
  maxReconnectAttempts?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Uses maxFrameBytes, maxMessageBytes, maxWhisperBodyBytes, handshakeTimeoutMs, loginTimeoutMs, heartbeatMs, idleTimeoutMs, historyOnJoin, historyMaxPage. */
  limits?: Partial<Limits>;
  /** Where known_relays lives; default paths.configDir(). */
  configDir?: string;
  /**
   * Where this device's identity keys, contacts' key pins and whisper state live, in a folder
   * per user (`<dataDir>/users/<name>`); default paths.dataDir().
   */
  dataDir?: string;
  /** Unlocks the identity key file, or protects it when it is first made (the CLI reads SECURECHAT_PASSPHRASE). */
  passphrase?: string;
  /** argon2id cost when a passphrase-protected identity file is made; default MODERATE (tests pass cheaper). */
  kdf?: KdfLimits;
  /** A request without an answer after this long fails with E_TIMEOUT (room messages never do: they are resent). Default CLIENT_DEFAULTS. */
  requestTimeoutMs?: number;
  /** Most room messages waiting for their ack, including those queued while reconnecting (beyond: E_FLOOD). Default 1000. */
  maxUnackedMessages?: number;
  /**
   * The keys of a room's members not pinned yet are fetched and pinned when the client enters the room and as
   * members join, in rooms of at most this many users (0: never; keys are then fetched at first
   * use). Default CLIENT_DEFAULTS.keyPrefetchMaxUsers (256).
   */
  keyPrefetchMaxUsers?: number;
  /** Most missed messages fetched after a reconnect; older ones are left to /history. Default 10000. */
  catchUpMaxMessages?: number;
  /** Sent in `hello`. */
  clientName?: string;
  /** Random source for the reconnect jitter (tests). */
  random?: () => number;
  /** File transfers: `direct: false` forces the relay pipe (--no-direct), download folder, core options. */
  transfers?: ClientTransferOptions;
  /**
   * Reach the relay through this SOCKS5 proxy (`socks5h://[USER:PASS@]HOST:PORT`, `socks5://...`,
   * or parsed settings): every connection to the relay goes through it (chat, reconnects, relay
   * pipes, room files). File transfers then never connect to the peer directly, offer no
   * addresses and map no ports, since that would reveal this machine's addresses.
   */
  proxy?: string | ProxySettings;
  /**
   * Connect from this local address (a machine with several; tests give each client its own
   * loopback address, 127.0.0.2 ...). Straight connections only: with a proxy it is the
   * proxy's business.
   */
  localAddress?: string;
  /**
   * Go back to the chatroom this user was in on this relay when the client last ran (kept in
   * `last-rooms.json` of the user's data folder), as irssi's autojoin does. The full-screen
   * client sets it; scripts start in the global room as they expect. Default false.
   */
  returnToLastRoom?: boolean;
}

