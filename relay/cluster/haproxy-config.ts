/**
 * The one HAProxy configuration template: `deploy/haproxy.cfg` is its output for the example
 * machines (`DEPLOY_EXAMPLE`; test/integration/deploy/config.test.ts keeps the two identical), and
 * `npm run cluster` renders it for loopback. Only the lines that depend on the machine differ:
 * where HAProxy listens, where the relays are, where it logs, and whether it drops privileges.
 *
 * The choices, once: TCP mode (TLS ends on the relays, HAProxy sees ciphertext only and the
 * login proof bound to the TLS session holds); `send-proxy-v2` so each relay learns the real
 * client address; health checks send a PROXY v2 LOCAL header, which the relay answers with a
 * clean close; timeouts of hours, since a chat connection lives for hours and the client pings
 * every 20 s; a stick-table that refuses an address opening too many connections before any
 * relay spends a TLS handshake on it.
 */

export interface HaproxyRelay {
  /** The relay's id (`--relay-id`), also HAProxy's server name. */
  name: string;
  /** HOST:PORT where the relay listens (`relay serve --host --port`). */
  address: string;
}

export interface HaproxyConfigOptions {
  /** HOST:PORT (or `:PORT`) clients connect to. */
  bind: string;
  relays: readonly HaproxyRelay[];
  /** `syslog`: to /dev/log (journald or rsyslog); `stdout`: for `haproxy -db` in a terminal. */
  log: 'syslog' | 'stdout';
  /**
   * Connections HAProxy holds at once (each takes two file descriptors, client and relay side).
   * HAProxy started as root raises its descriptor limit to fit; started by a user it cannot
   * go past that user's hard limit, so a local cluster asks for less.
   */
  maxconn: number;
  /** Admin socket (`set server relays/r1 state drain`, `show stat`). */
  statsSocket: string;
  /** A system service drops root after binding: user, group and chroot folder. */
  runAs?: { user: string; group: string; chroot: string };
  /** The first comment lines: what this file is and how to check it. */
  heading: readonly string[];
}

/** Per client address, before a relay is involved; the relay's own caps stay (shared/limits.ts). */
export const HAPROXY_ADDRESS_LIMITS = {
  /** Open connections per address (the relay allows 64 per relay). */
  concurrent: 100,
  /** New connections per address in 10 s (the relay's bucket: 100 at once, 10/s after). */
  ratePer10s: 100,
} as const;

/** deploy/haproxy.cfg: three relays on a private network, HAProxy on the first machine. */
export const DEPLOY_EXAMPLE: HaproxyConfigOptions = {
  bind: ':7443',
  relays: [
    { name: 'r1', address: '10.0.0.11:7444' },
    { name: 'r2', address: '10.0.0.12:7444' },
    { name: 'r3', address: '10.0.0.13:7444' },
  ],
  log: 'syslog',
  maxconn: 20000,
  statsSocket: '/run/haproxy/admin.sock',
  runAs: { user: 'haproxy', group: 'haproxy', chroot: '/var/lib/haproxy' },
  heading: [
    'securechat: HAProxy in front of three relays (docs/cluster.md walks through it).',
    'Copy to /etc/haproxy/haproxy.cfg, change the relay addresses (10.0.0.11-13) to yours,',
    'check with `haproxy -c -f /etc/haproxy/haproxy.cfg`, then `systemctl reload haproxy`.',
    'Generated from relay/cluster/haproxy-config.ts, which `npm run cluster` also renders',
    '(for loopback); test/integration/deploy/config.test.ts keeps the two the same.',
  ],
};

export function renderHaproxyConfig(options: HaproxyConfigOptions): string {
  const { concurrent, ratePer10s } = HAPROXY_ADDRESS_LIMITS;
  const lines = [
    ...options.heading.map((line) => `# ${line}`),
    '',
    'global',
    options.log === 'syslog'
      ? '    log /dev/log local0 info'
      : '    log stdout format raw local0 info',
    ...(options.runAs
      ? [
          '    # Binds as root, then runs unprivileged in an empty folder.',
          `    user ${options.runAs.user}`,
          `    group ${options.runAs.group}`,
          `    chroot ${options.runAs.chroot}`,
        ]
      : []),
    `    stats socket ${options.statsSocket} mode 660 level admin`,
    '    # Each client holds one connection (two while it transfers a room file).',
    `    maxconn ${options.maxconn}`,
    '',
    'defaults',
    '    mode tcp',
    '    log global',
    '    # One line per connection when it ends: client address, relay, duration, bytes.',
    '    option tcplog',
    '    # A relay that refuses the connect (stopped, draining) is retried on another one.',
    '    option redispatch 1',
    '    retries 3',
    '    timeout connect 5s',
    '    # Chat connections live for hours; the client pings every 20 s and the relay closes',
    '    # one silent for 60 s, so these only reap connections both ends forgot.',
    '    timeout client 4h',
    '    timeout server 4h',
    '    timeout tunnel 4h',
    '    # A half-closed connection does not linger.',
    '    timeout client-fin 30s',
    '    timeout server-fin 30s',
    '    timeout check 3s',
    '',
    'frontend securechat',
    `    bind ${options.bind}`,
    '    # Per client address: open connections and new connections in 10 s. An address over',
    '    # either is refused before any relay spends a TLS handshake on it. IPv4 clients are',
    '    # stored IPv4-mapped in the ipv6 table.',
    '    stick-table type ipv6 size 200k expire 10m store conn_cur,conn_rate(10s)',
    '    tcp-request connection track-sc0 src',
    `    tcp-request connection reject if { sc0_conn_cur gt ${concurrent} }`,
    `    tcp-request connection reject if { sc0_conn_rate gt ${ratePer10s} }`,
    '    default_backend relays',
    '',
    'backend relays',
    '    # Long-lived connections: the relay with the fewest is the least loaded.',
    '    balance leastconn',
    '    # send-proxy-v2: every connection starts with a PROXY v2 header carrying the client',
    '    # address (relay serve --proxy-protocol --trusted-proxy <this machine>).',
    '    # check: a TCP connect every 2 s that sends a PROXY v2 LOCAL header (HAProxy does so',
    '    # for checks of a send-proxy-v2 server); the relay closes it cleanly. A stopped relay',
    '    # refuses the connect and is taken out after 2 failures; after 3 good ones it is back.',
    '    # on-marked-down shutdown-sessions: a relay that stops answering checks (hung, cut',
    '    # off) loses its clients at once, so they resume on another relay.',
    '    default-server send-proxy-v2 check inter 2s fastinter 500ms fall 2 rise 3 on-marked-down shutdown-sessions',
    '    # No affinity: a room-file upload or download and the relay pipe open a second',
    '    # connection with a one-time ticket that every relay can redeem (the tickets live in',
    '    # Redis), and the two sides of a relay pipe that reach different relays are joined by',
    '    # a relay link between those relays. So every connection goes to the least busy relay.',
    ...options.relays.map((relay) => `    server ${relay.name} ${relay.address}`),
  ];
  return lines.join('\n') + '\n';
}
