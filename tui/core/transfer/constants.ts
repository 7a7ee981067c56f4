/**
 * Every number the file transfer uses, in one object, units in the names. Transfers take
 * `Partial<TransferConstants>` overrides (tests shorten timers); these are the defaults and
 * each says where it comes from.
 */
export const TRANSFER_DEFAULTS = {
  /**
   * Delay before the relay pipe is dialled, counted from the moment connecting starts.
   * magic-wormhole's transit uses the same 2 s (`RELAY_DELAY = 2.0` in _dilation/connector.py):
   * long enough for a working direct path to win on any sane network, short enough that a
   * dead address (which can take the full TCP timeout) does not hold the transfer up.
   */
  RELAY_DELAY_MS: 2_000,
  /** One direct TCP connect attempt gives up after this (the OS default is minutes). */
  DIAL_TIMEOUT_MS: 5_000,
  /** TLS handshake plus the leader's `go` must finish within this per connection. */
  HANDSHAKE_TIMEOUT_MS: 10_000,
  /** No connection won within this after accept: E_TRANSFER_TIMEOUT. */
  CONNECT_TIMEOUT_MS: 60_000,
  /** After a break, no connection won within this: E_PEER_GONE. */
  RECONNECT_TIMEOUT_MS: 120_000,
  /** When every dial of a round failed, the next round starts after this. */
  RETRY_DELAY_MS: 2_000,
  /** No acknowledgement while bytes are outstanding for this long: the path counts as lost. */
  STALL_TIMEOUT_MS: 30_000,
  /** An offer nobody answers is withdrawn after this (people go for coffee). */
  OFFER_TIMEOUT_MS: 15 * 60_000,
  /**
   * UPnP and NAT-PMP together must finish within this; it runs in parallel with the
   * direct dials and never blocks chat. NATLAB.md measured mappings in 17-230 ms, and with no
   * gateway the library waits for the whole timeout, so keep it short.
   */
  MAPPING_TIMEOUT_MS: 3_000,
  /** Requested lease of a port mapping; it is removed earlier, when the transfer ends. */
  MAPPING_TTL_MS: 2 * 60 * 60_000,
  /**
   * File bytes per data frame. 128 KiB keeps per-frame overhead (header, one `read()` per
   * frame) small while a frame still splits into only 8 TLS records.
   */
  CHUNK_BYTES: 128 * 1024,
  /**
   * Unacknowledged bytes the sender may have in flight. Bounds what a receiver must take
   * (it holds at most RING_BYTES of it, below) and allows ~80 MB/s at 100 ms round trip.
   */
  WINDOW_BYTES: 8 * 1024 * 1024,
  /**
   * The receiver's shared ring between its TLS thread and its file worker (what is received
   * and not yet on disk). Smaller than the window on purpose: when the ring is nearly full the
   * receiver stops reading its socket, and the rest of the window waits in the kernel's socket
   * buffers (TCP flow control), which are not the process's memory. The window still bounds
   * what is in flight on a long path. Every byte of the ring is touched once it has wrapped,
   * so its size is RSS: 8 MiB (one window) put a 1 GB receiver at 100-104 MB against issue
   * 15's 100 MB per client process.
   */
  RING_BYTES: 4 * 1024 * 1024,
  /** The receiver acknowledges after at least this many newly written bytes (and at the end). */
  ACK_EVERY_BYTES: 1024 * 1024,
  /** The sender re-checks the file's size and mtime after every this many bytes, and at the end. */
  STAT_EVERY_BYTES: 8 * 1024 * 1024,
  /** Progress events are emitted at most this often (and always at the end). */
  PROGRESS_INTERVAL_MS: 250,
  /** Speed is averaged over this trailing window. */
  SPEED_WINDOW_MS: 3_000,
  /** Most candidate addresses accepted from a peer (more is refused as E_PROTOCOL). */
  MAX_CANDIDATES: 16,
  /** Inbound connections still in their handshake at once; more are closed straight away. */
  MAX_PENDING_INBOUND: 8,
  /** Largest file a receiver accepts unless it says otherwise: 64 GiB. */
  MAX_FILE_BYTES: 64 * 1024 * 1024 * 1024,
} as const;

export type TransferConstants = { -readonly [K in keyof typeof TRANSFER_DEFAULTS]: number };

export function resolveTransferConstants(overrides: Partial<TransferConstants> = {}): TransferConstants {
  return { ...TRANSFER_DEFAULTS, ...overrides };
}
