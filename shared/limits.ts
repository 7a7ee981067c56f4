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
  /** Longest away text (/away MSG), in UTF-8 bytes: a line in /users, not a message (IRC servers allow 160-300). */
  maxAwayBytes: 200,
  /**
   * Behind a proxy (`--proxy-protocol`): the PROXY v2 header must arrive within this after the
   * TCP connect. HAProxy sends it with the first bytes, so 3 s only ever cuts a stuck or hostile peer.
   */
  proxyHeaderTimeoutMs: 3_000,
  /**
   * Largest PROXY v2 header accepted, checked from its 16-byte fixed part before buffering the
   * rest: 16 fixed bytes + 216 (the largest address block the spec defines, AF_UNIX) + 512 bytes
   * of TLVs, enough for what HAProxy can add (unique id ≤ 128 B, authority ≤ 255 B, CRC32C,
   * netns). The 16-bit length field alone would allow 64 KiB per connection.
   */
  proxyHeaderMaxBytes: 16 + 216 + 512,
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
  /**
   * An address an account logged in from (or resumed from) is "known" to that account this
   * long after its last success: password logins from it skip the account's delay (only the
   * address's own delay applies), so failures elsewhere cannot lock the owner out.
   */
  loginKnownAddressMemoryMs: 30 * 24 * 60 * 60_000,
  /** Known addresses remembered per account (the most recently used ones). */
  loginKnownAddressesPerAccount: 8,
  /** Resume tokens expire after this long. */
  resumeTokenTtlMs: 7 * 24 * 60 * 60_000,
  /**
   * Room messages, whispers and signals per user per second (token bucket refill) and burst
   * size. The bucket belongs to the user, not the connection: reconnecting does not refill it.
   */
  messagesPerSecond: 20,
  messageBurst: 100,
  /**
   * In a cluster a relay takes this many flood tokens from a user's bucket in Redis at once and
   * spends them on the user's next messages (one round trip per this many, made in the background
   * once half are spent, so the messages do not wait for it). Never more than the
   * bucket holds; unused ones are dropped after 1 s, so the limit only gets stricter.
   */
  floodTokenPrefetch: 10,
  /**
   * Every other request a logged-in user makes (history pages, /users, /chatrooms, joins, key
   * and prekey fetches or uploads, file tickets) per second and burst: each costs the relay a
   * store read or write, so one account must not keep a relay busy with them. The bucket
   * belongs to the user, like the flood bucket. The burst covers a join (history, members'
   * keys, prekey claims for first whispers) many times over.
   */
  requestsPerSecond: 20,
  requestBurst: 100,
  /** A sender refused for flooding sends again after this (when the refusal gives no retryAfterMs). */
  floodRetryAfterMs: 1_000,
  /** Open connections per remote address. */
  connectionsPerAddress: 64,
  /** New connections per remote address per second (bucket refill) and burst: bounds what comes before login. */
  connectionRatePerAddress: 10,
  connectionBurstPerAddress: 100,
  /**
   * Session resumes per remote address per minute (bucket refill) and burst. Per address, not
   * per user, so nobody can use up someone else's; the burst lets a household or office behind
   * one NAT come back at once after a relay restart.
   */
  resumesPerMinute: 120,
  resumeBurst: 100,
  /**
   * Prekey claims per user (token bucket, all relays): each claim takes one of a contact's
   * one-time prekeys, so a user draining them is slowed (X3DH then falls back to three DHs).
   */
  prekeyClaimsPerMinute: 60,
  prekeyClaimBurst: 30,
  /**
   * A room message's client id is recognised as a retry for at least this long (LevelDB keeps
   * ids as long as the message; Redis expires them after this). Longer than a resume token
   * lives, so every send a client can still retry is covered.
   */
  clientIdRetentionMs: 30 * 24 * 60 * 60_000,
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
  /**
   * Cluster bus (Redis): a relay renews its liveness key five times per lease and counts as
   * gone (its members turn away, then leave) once the lease lapses; a relay that cannot renew
   * for a whole lease stops serving rather than show a split view.
   */
  busLeaseMs: 5_000,
  /** A Redis command not answered within this fails (E_STORE_UNAVAILABLE) rather than wait. */
  busCommandTimeoutMs: 2_000,
  /** Longest wait between reconnection attempts to Redis (they start at 100 ms). */
  busReconnectMaxMs: 1_000,
  /** A relay pipe ticket must be used within this. */
  pipeTicketTtlMs: 60_000,
  /** The first side of a relay pipe waits this long for the second. */
  pipeWaitMs: 30_000,
  /** A relay link (a pipe whose sides reached different relays of a cluster) must connect and be joined within this. */
  relayLinkTimeoutMs: 5_000,
  /** Longest life of one relay pipe (a transfer resumes on a new pipe after it). */
  pipeMaxMs: 6 * 60 * 60_000,
  /** Bytes one user may send through relay pipes per hour (the relay's bandwidth is shared). */
  pipeBytesPerUserPerHour: 64 * 1024 * 1024 * 1024,
  /** Bytes a relay pipe queues towards one side before it stops reading from the other (per direction). */
  pipeBufferBytes: 1024 * 1024,
  /** Unused pipe tickets one user may hold. */
  pipeTicketsPerUser: 32,
  /** Shortest password accepted at registration (Unicode code points). */
  minPasswordChars: 8,
  /**
   * Longest password, in Unicode code points, at registration and at login (refused before
   * hashing, so a huge password costs the relay nothing). Far above any passphrase.
   */
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

/**
 * The most messages one history request (or a join's context) may ask for or carry: the wire
 * schema, the /history command and ChatClient.history all check against this one number.
 */
export const MAX_HISTORY_MESSAGES = 10_000;

/**
 * The most users one `key-batch` request may name (the wire schema refuses more). 64 bundles
 * with the longest names make a ~30 KB answer, well inside `maxFrameBytes`; a bigger room is
 * asked in several requests.
 */
export const MAX_KEYS_PER_REQUEST = 64;

/**
 * Longest request line of a raw relay pipe (`SCPIPE/1 <ticket>\n`, relay/raw-pipe-front.ts):
 * the prefix and a 32-character ticket are 42 bytes; more than this is not a pipe request.
 */
/**
 * Public key bundles a process remembers as verified (shared/crypto/identity.ts): ~300 bytes
 * each, oldest dropped first.
 */
export const VERIFIED_BUNDLE_CACHE_ENTRIES = 4096;

export const RAW_PIPE_MAX_LINE_BYTES = 160;

/** Defaults of the client core and its front ends (each can be overridden in its options). */
export const CLIENT_DEFAULTS = {
  /** A request without an answer after this long fails with E_TIMEOUT (room messages are resent instead). */
  requestTimeoutMs: 30_000,
  /** Most room messages waiting for their ack, including those queued while reconnecting (beyond: E_FLOOD). */
  maxUnackedMessages: 1000,
  /** Most missed messages fetched after a reconnect; older ones are left to /history. */
  catchUpMaxMessages: 10_000,
  /** How long the TUI's /exit waits for the relay to store what was sent before closing anyway. */
  exitGraceMs: 5_000,
  /**
   * The client fetches (and pins) the keys of a room's members not pinned yet when it enters
   * the room and when someone joins it, so a first whisper does not wait for them; in a room with more members
   * than this it does not (the pins file would hold everyone of a crowded global room), and
   * keys are fetched at first use as before.
   */
  keyPrefetchMaxUsers: 256,
  /**
   * Members who join the room the client is in have their keys fetched together, after
   * 0.5-1.5 × this: a burst of N joins then costs each member a few key lookups, not N (with
   * every member doing the same, N joins into a room of N cost the relay ~N²/2 lookups, the
   * bulk of its work per login in the login bench). A whisper to someone not pinned yet fetches
   * at once, as always.
   */
  keyPrefetchJoinDelayMs: 500,
  /** Most file offers received and not yet answered. */
  maxPendingOffers: 32,
  /** Finished transfers kept for /transfers. */
  maxFinishedTransfers: 50,
  /** At most this many progress events a second per transfer, whatever the core's settings. */
  transferProgressEventsPerSecond: 4,
  /** closeAll waits at most this long for cancelled transfers to be released. */
  transferCloseWaitMs: 5_000,
  /** The TUI redraws for progress ticks at most this often a second, however many transfers run. */
  tuiProgressRedrawsPerSecond: 4,
} as const;

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}

/**
 * Folder transfers (`/send USER DIR/`, tui/core/transfer/folders.ts): what a receiver accepts
 * in a folder offer and its files' paths, and how long it waits between files. The sender
 * checks the same numbers before offering, so a folder that would be refused is never offered.
 */
export const FOLDER_LIMITS = {
  /** Files in one folder transfer (each is its own transfer, one after another). */
  maxFiles: 10_000,
  /** One relative path (`a/b/c.jpg`), UTF-8 bytes: under PATH_MAX with room for the download folder. */
  maxPathBytes: 1024,
  /** Folders deep, counting the file itself. */
  maxDepth: 32,
  /** All files together, bytes (a single file is bounded by MAX_FILE_BYTES in transfer/constants.ts). */
  maxTotalBytes: 1024 * 1024 * 1024 * 1024,
  /** Between one file's end and the next file's offer; longer, and the folder fails (E_TRANSFER_TIMEOUT). */
  nextFileTimeoutMs: 120_000,
  /**
   * A folder's journal record (tui/core/transfer/journal.ts) lists every file: at most
   * maxFiles paths of maxPathBytes plus sizes, mtimes and hashes (~12.7 MB); larger is not ours.
   */
  maxJournalRecordBytes: 16 * 1024 * 1024,
} as const;

/**
 * Sessions with forward secrecy (issue 16, docs/crypto.md "Sessions"): the Double Ratchet's
 * bounds and the prekeys a device publishes on the relay.
 */
export const RATCHET_LIMITS = {
  /**
   * DR §3.2 MAX_SKIP: most message keys one received header may make us skip in one chain. More
   * than the whispers a relay holds for a user who drops and returns; small enough that a
   * hostile header costs the receiver a few milliseconds of HMACs.
   */
  maxSkip: 1000,
  /** DR §6.4: skipped message keys kept per session, oldest dropped first. */
  maxSkippedKeys: 2000,
  /** Earlier receiving ratchet keys remembered, so a replay from an old chain is named a replay. */
  maxOldChains: 32,
  /** N and PN travel as u32 (the header); a sending chain stops before it would wrap. */
  maxMessageNumber: 0xffff_ffff,
  /** Largest associated data a session keeps (names, device ids, keys: about 300 bytes). */
  maxAssociatedDataBytes: 1024,
  /** Plaintext is padded to a multiple of this (ISO/IEC 7816-4, sodium_pad), as the v1 envelope. */
  padBlockBytes: 256,
  /** Largest plaintext a session seals (a whisper's text and its framing). */
  maxPlaintextBytes: 8 * 1024,
} as const;

export const PREKEY_LIMITS = {
  /** Longest device id (`A-Z a-z 0-9 _ -`). */
  maxDeviceIdChars: 32,
  /** Devices of one user a prekey claim answers for (and the relay stores prekeys for). */
  maxDevicesPerUser: 8,
  /** One-time prekeys in one upload. */
  maxOneTimePerUpload: 100,
  /** One-time prekeys the relay keeps per device (beyond: E_TOO_MANY_PREKEYS). */
  maxStoredOneTime: 200,
  /** Below this many one-time prekeys left, the relay asks the device for more (`prekeys-low`). */
  oneTimeLowWater: 20,
  /** X3DH §3.2: a signed prekey is replaced this often. */
  signedPrekeyRotateMs: 7 * 24 * 3600_000,
  /** X3DH §3.2: a replaced signed prekey's private key is kept this long for delayed first messages. */
  signedPrekeyKeepMs: 14 * 24 * 3600_000,
  /**
   * One-time prekey private keys a device keeps (tui/core/prekey-file.ts): those on the relay
   * plus those handed out whose first message has not come (yet, or ever); the oldest go first.
   */
  maxLocalOneTime: 400,
  /** EKs of accepted sessions a device remembers (X3DH §4.2: a replayed initial message is refused). */
  maxSeenEphemerals: 2000,
  /**
   * A claim or prekey upload the relay refuses for load (`E_RATE`: many first contacts at once;
   * `E_FLOOD`: the per-user request bucket) is asked again after its `retryAfterMs`, this many
   * times, while that wait is at most `claimRetryMaxWaitMs`: the whisper is late rather than
   * refused (and never downgraded to the v1 envelope for it), a login's upload still lands.
   */
  claimRetries: 5,
  claimRetryMaxWaitMs: 10_000,
} as const;

/** The client's saved sessions (tui/core/session-store.ts). */
export const SESSION_STORE_LIMITS = {
  /** Contacts with saved sessions (one file each); the least recently used beyond this are dropped. */
  maxPeers: 512,
  /**
   * Sessions kept per contact device: crossing starts make two, a peer's reset a third; the one
   * most recently received on is used to send, the others still open late messages.
   */
  maxSessionsPerDevice: 4,
  /** Largest sessions file of one contact (a few sessions, each with at most maxSkippedKeys). */
  maxFileBytes: 4 * 1024 * 1024,
  /**
   * A message received on an existing session is on disk within this time (or with the next
   * send to that contact, or at exit), not before it is shown: as the v1 replay state, a crash
   * loses at most this window (a relay could replay what arrived in it, once). Sending is never
   * batched: the advanced sending state is written before a body leaves.
   */
  receiveCommitMs: 1_000,
  /**
   * A sending chain's reservation (docs/crypto.md "The rule that keeps message keys single-use"):
   * each record of a chain says its next message number is at least this far past what was
   * sent, so sends within it leave once their record is written (no fdatasync waited for), and
   * after a power loss the chain jumps to it. The peer keeps the numbers jumped over as skipped
   * keys: it must stay well under RATCHET_LIMITS.maxSkip (1000), and each unclean stop costs the
   * peer at most this many stored keys of the maxSkippedKeys (2000) per session.
   */
  sendReserve: 32,
  /**
   * A journal record nobody waits to be durable (a send within its chain's reservation, a
   * received message) is fdatasynced within this time; one that is waited for, at once. What a
   * power loss costs is then at most the state of this window (docs/crypto.md: availability,
   * never a key used twice), as `receiveCommitMs` for received messages.
   */
  journalSyncMs: 1_000,
  /**
   * The sessions journal (tui/core/state-journal.ts) is compacted into the contacts' files once
   * it passes this size (and at exit): a few hundred sends' records between compactions.
   */
  journalCompactBytes: 1024 * 1024,
  /** Largest journal read at start (compaction bound plus one large batch); beyond: E_CORRUPT_FILE. */
  maxJournalBytes: 64 * 1024 * 1024,
  /** Largest prekey file (maxLocalOneTime pairs, signed prekeys, seen EKs). */
  maxPrekeyFileBytes: 1024 * 1024,
  /**
   * A body from a contact's device that no session here can open makes this device start a new
   * session with that device and say so in it (a session reset, session-crypto.ts), at most once
   * per this time per device: a relay that forges garbage "from" a contact costs it one prekey
   * claim a minute, and a burst of unreadable bodies one reset.
   */
  resetMinIntervalMs: 60_000,
} as const;
