/**
 * Every size, count and time limit in one place, units in the names.
 * The relay and the client take overrides (tests shorten the timers); these are the defaults.
 */
export const DEFAULT_LIMITS = {
  /** Largest frame accepted on a control connection; checked from the header, before buffering. */
  maxFrameBytes: 64 * 1024,
  /** Longest room message, in UTF-8 bytes (IRC allows 512; we allow a short paragraph). */
  maxMessageBytes: 4096,
  /** Largest opaque whisper body (base64 ciphertext of a message plus envelope). */
  maxWhisperBodyBytes: 16 * 1024,
  /** The TLS handshake must finish within this. */
  handshakeTimeoutMs: 10_000,
  /**
   * Client behind a SOCKS5 proxy: the proxy must have connected us to the relay within this
   * (the TLS handshake then has handshakeTimeoutMs of its own). Longer than a plain connect
   * because Tor first builds a circuit, which takes seconds and sometimes tens of them.
   */
  proxyConnectTimeoutMs: 30_000,
  /** After the handshake, a client must be logged in within this. */
  loginTimeoutMs: 30_000,
  /** A connection with no inbound frame for this long is closed (clients ping every heartbeatMs). */
  idleTimeoutMs: 60_000,
  /** Clients send a ping after this much silence; the reply also measures round-trip time. */
  heartbeatMs: 20_000,
  /** Outbound bytes queued in the socket above which a reader counts as "behind". */
  outboundHighWaterBytes: 512 * 1024,
  /** A reader that stays behind this long is disconnected (ssh-chat uses 5 s). */
  slowReaderGraceMs: 5_000,
  /** Queued outbound bytes at which a reader is disconnected at once. */
  outboundHardLimitBytes: 8 * 1024 * 1024,
  /** Messages delivered on join. */
  historyOnJoin: 50,
  /** Most messages one /history or catch-up request returns. */
  historyMaxPage: 500,
  /** Failed logins (per address or per account) before delays start. */
  loginFreeFailures: 3,
  /** First delay after the free failures; doubles with each further failure. */
  loginBaseDelayMs: 1_000,
  /** Longest login delay. */
  loginMaxDelayMs: 5 * 60_000,
  /** Failure counters are forgotten after this long without failures. */
  loginFailureMemoryMs: 60 * 60_000,
  /** Resume tokens expire after this long. */
  resumeTokenTtlMs: 7 * 24 * 60 * 60_000,
  /** Room messages per user per second (token bucket refill) and burst size. */
  messagesPerSecond: 20,
  messageBurst: 100,
  /** A sender refused for flooding sends again after this (when the refusal gives no retryAfterMs). */
  floodRetryAfterMs: 1_000,
  /** Open connections per remote address. */
  connectionsPerAddress: 64,
  /** Remembered client message ids per user for idempotent retries (in memory; older ones are checked in LevelDB). */
  recentIdsPerUser: 1024,
  /** Whispers and transfer signals for a user whose connection dropped are held this long. */
  sealedHoldMs: 60_000,
  /**
   * A user whose connection dropped stays listed in their room this long; resuming within it
   * is silent, and only after it does the room hear they left. Matches `sealedHoldMs`, so
   * whispers to such a user are held, not refused. 0: announce the leave at once.
   */
  presenceGraceMs: 60_000,
  /** ... and at most this many per user. */
  sealedHoldPerUser: 64,
  /** A relay pipe ticket must be used within this. */
  pipeTicketTtlMs: 60_000,
  /** The first side of a relay pipe waits this long for the second. */
  pipeWaitMs: 30_000,
  /** Longest life of one relay pipe (a transfer resumes on a new pipe after it). */
  pipeMaxMs: 6 * 60 * 60_000,
  /** Bytes one user may send through relay pipes per hour (the relay's bandwidth is shared). */
  pipeBytesPerUserPerHour: 64 * 1024 * 1024 * 1024,
  /** Unused pipe tickets one user may hold. */
  pipeTicketsPerUser: 32,
  /** Shortest password accepted at registration. */
  minPasswordChars: 8,
  maxPasswordChars: 1024,
  /** Largest room file stored on the relay (/upload). */
  roomFileMaxBytes: 256 * 1024 * 1024,
  /** Room file bytes one user may have stored on the relay at once (all rooms). */
  roomFilesPerUserBytes: 1024 * 1024 * 1024,
  /** Room file bytes the relay stores in all. */
  roomFilesTotalBytes: 8 * 1024 * 1024 * 1024,
  /** Room files are deleted this long after upload (at start and by an hourly sweep). */
  roomFileMaxAgeMs: 7 * 24 * 60 * 60_000,
  /** A room file ticket must be used within this. */
  roomFileTicketTtlMs: 60_000,
  /** Unused room file tickets one user may hold. */
  roomFileTicketsPerUser: 8,
  /** A room file side connection that moves no byte for this long is closed. */
  roomFileStallMs: 60_000,
} as const;

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
