#!/usr/bin/env node
/**
 * The `relay` command: run a relay (`serve`), show or regenerate its certificate (`cert`),
 * manage accounts (`user add|remove|list|passwd`) and read the audit log (`audit`).
 *
 * Exit status: 0 success, 1 failure (e.g. the user exists), 2 usage error or data folder in use.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ChatError } from '../shared/errors.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { validateNewPassword } from '../shared/account-rules.js';
import { RESERVED_USER_NAMES, validateNewUserName } from '../shared/names.js';
import { fingerprintOfPem, loadCertificateFiles, loadOrCreateCertificate } from './certs.js';
import { PasswordHasher } from './passwords.js';
import { promptNewPassword, readFirstLine, readPasswordFile } from './prompt.js';
import { LevelStore } from './level-store.js';
import type { RelayStore } from './store.js';

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: Readable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const processIO: CliIO = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stdin: process.stdin,
  env: process.env,
};

/** `$SECURECHAT_RELAY_DATA`, else `$XDG_DATA_HOME/securechat/relay`, else `~/.local/share/securechat/relay`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SECURECHAT_RELAY_DATA) return resolve(env.SECURECHAT_RELAY_DATA);
  const base = env.XDG_DATA_HOME ? resolve(env.XDG_DATA_HOME) : join(homedir(), '.local', 'share');
  return join(base, 'securechat', 'relay');
}

/** `HOST:PORT`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The first line `relay serve` prints; scripts and tests parse it. */
export function listeningLine(host: string, port: number, fingerprint: string): string {
  return `securechat relay listening on ${formatHostPort(host, port)} fingerprint ${fingerprint}`;
}

/** Codes that mean "you asked for something impossible" rather than "it failed". */
const USAGE_CODES = new Set(['E_USAGE', 'E_BAD_NAME', 'E_WEAK_PASSWORD', 'E_PASSWORD_TOO_LONG', 'E_DATA_LOCKED']);

/** A command line yargs could not make sense of. */
class UsageError extends Error {}

class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

const EPILOGUE = `Data folder: --data, else $SECURECHAT_RELAY_DATA, else $XDG_DATA_HOME/securechat/relay,
else ~/.local/share/securechat/relay. It holds the LevelDB store and the self-signed certificate.

Exit status: 0 success, 1 failure, 2 usage error or data folder in use by a running relay.`;

function dataOption(io: CliIO) {
  return {
    type: 'string',
    describe: 'data folder (LevelDB store and generated certificate)',
    defaultDescription: defaultDataDir(io.env),
  } as const;
}

function dataDirOf(argv: { data?: string }, io: CliIO): string {
  return argv.data ? resolve(argv.data) : defaultDataDir(io.env);
}

/** Open the store, turning a held lock into the one-line message every admin command shows. */
async function openStoreForAdmin(dataDir: string, io: CliIO): Promise<RelayStore> {
  try {
    return await LevelStore.open(dataDir, { onError: (error) => io.stderr(`relay: audit log: ${(error as Error).message}\n`) });
  } catch (error) {
    if (error instanceof ChatError && error.code === 'E_DATA_LOCKED') {
      io.stderr(`relay: data folder ${dataDir} is in use by a running relay (stop it first, or register users with --registration open)\n`);
      throw new CliExit(2);
    }
    throw error;
  }
}

/**
 * Runs `work` on the relay's store: the data folder's LevelDB, or with `redisUrl` the Redis a
 * cluster shares (then the relays may keep running: Redis has no single owner).
 */
async function withStore<T>(dataDir: string, io: CliIO, work: (store: RelayStore) => Promise<T>, redisUrl?: string): Promise<T> {
  const store = redisUrl
    ? await (await import('./redis-store.js')).RedisStore.connect(redisUrl, { onError: (error) => io.stderr(`relay: audit log: ${(error as Error).message}\n`) })
    : await openStoreForAdmin(dataDir, io);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** A new password from --password-file, piped stdin (first line) or a no-echo prompt (asked twice). */
async function readNewPassword(argv: { passwordFile?: string }, io: CliIO): Promise<string> {
  let password: string;
  if (argv.passwordFile) password = await readPasswordFile(argv.passwordFile);
  else if (io.stdin.isTTY) password = await promptNewPassword(io.stdin, process.stderr);
  else password = await readFirstLine(io.stdin);
  // The same rules as the wire `register` (shared/account-rules.ts).
  return validateNewPassword(password, DEFAULT_LIMITS);
}

async function hashPassword(password: string): Promise<string> {
  const hasher = new PasswordHasher({ workers: 1 });
  try {
    return await hasher.hash(password);
  } finally {
    await hasher.close();
  }
}

const CLI_AUDIT = { address: 'local', detail: 'relay CLI' } as const;

// ------------------------------------------------------------------ commands

async function userAdd(argv: { name: string; data?: string; redis?: string; passwordFile?: string }, io: CliIO): Promise<void> {
  // Reserved names are refused here as on the wire; existing accounts keep them.
  const name = validateNewUserName(argv.name);
  const dataDir = dataDirOf(argv, io);
  await withStore(dataDir, io, async (store) => {
    if (await store.getAccount(name)) throw new ChatError('E_USER_EXISTS', `the user name ${name} is taken`);
    const password = await readNewPassword(argv, io);
    await store.createAccount(name, await hashPassword(password));
    store.audit({ event: 'account-added', user: name, ...CLI_AUDIT });
  }, argv.redis);
  io.stdout(`added user ${name}\n`);
}

async function userRemove(argv: { name: string; data?: string; redis?: string }, io: CliIO): Promise<void> {
  const dataDir = dataDirOf(argv, io);
  await withStore(dataDir, io, async (store) => {
    const account = await store.getAccount(argv.name);
    if (!account || !(await store.removeAccount(argv.name))) throw new ChatError('E_NO_SUCH_USER', `there is no user ${argv.name}`);
    await store.removePrekeys(argv.name);
    store.audit({ event: 'account-removed', user: account.name, ...CLI_AUDIT });
    io.stdout(`removed user ${account.name}\n`);
  }, argv.redis);
}

async function userPasswd(argv: { name: string; data?: string; redis?: string; passwordFile?: string }, io: CliIO): Promise<void> {
  const dataDir = dataDirOf(argv, io);
  await withStore(dataDir, io, async (store) => {
    const account = await store.getAccount(argv.name);
    if (!account) throw new ChatError('E_NO_SUCH_USER', `there is no user ${argv.name}`);
    const password = await readNewPassword(argv, io);
    await store.setPasswordHash(account.name, await hashPassword(password));
    // Sessions resumed with old tokens must log in with the new password.
    await store.revokeTokens(account.name);
    store.audit({ event: 'password-changed', user: account.name, ...CLI_AUDIT });
    io.stdout(`changed the password of ${account.name}; their sessions must log in again\n`);
  }, argv.redis);
}

async function userList(argv: { data?: string; redis?: string; json?: boolean }, io: CliIO): Promise<void> {
  const accounts = await withStore(dataDirOf(argv, io), io, (store) => store.listAccounts(), argv.redis);
  if (argv.json) {
    for (const a of accounts) io.stdout(JSON.stringify({ name: a.name, created: a.created, disabled: a.disabled === true }) + '\n');
    return;
  }
  if (accounts.length === 0) {
    io.stderr('no users yet (add one with: relay user add NAME)\n');
    return;
  }
  const width = Math.max(...accounts.map((a) => a.name.length));
  for (const a of accounts) {
    io.stdout(`${a.name.padEnd(width)}  created ${new Date(a.created).toISOString()}${a.disabled ? '  disabled' : ''}\n`);
  }
}

async function auditList(argv: { data?: string; redis?: string; limit: number; json?: boolean }, io: CliIO): Promise<void> {
  const events = await withStore(dataDirOf(argv, io), io, (store) => store.listAudit(argv.limit), argv.redis);
  for (const e of events) {
    if (argv.json) {
      io.stdout(JSON.stringify(e) + '\n');
      continue;
    }
    const parts = [new Date(e.time).toISOString(), e.event];
    if (e.user !== undefined) parts.push(`user=${JSON.stringify(e.user)}`);
    if (e.address !== undefined) parts.push(`address=${e.address}`);
    if (e.detail !== undefined) parts.push(`detail=${JSON.stringify(e.detail)}`);
    io.stdout(parts.join(' ') + '\n');
  }
}

async function cert(argv: { data?: string; regenerate?: boolean; san?: string[]; cert?: string; key?: string }, io: CliIO): Promise<void> {
  if (argv.cert) {
    const fingerprint = argv.key ? (await loadCertificateFiles(argv.cert, argv.key)).fingerprint : fingerprintOfPem(await readCertOnly(argv.cert));
    io.stdout(fingerprint + '\n');
    return;
  }
  const dataDir = dataDirOf(argv, io);
  if (argv.regenerate) {
    // A running relay keeps serving its old certificate from memory; refuse rather than diverge.
    await withStore(dataDir, io, async () => undefined);
    const made = await loadOrCreateCertificate(dataDir, { regenerate: true, hostnames: argv.san ?? [] });
    io.stdout(made.fingerprint + '\n');
    io.stderr(
      'relay: made a new certificate. Clients pinned to the old fingerprint (--fingerprint or --tofu) will refuse it;\n' +
        'give them the new fingerprint above (TOFU users must remove the old entry from their known-relays file).\n',
    );
    return;
  }
  const current = await loadOrCreateCertificate(dataDir, { hostnames: argv.san ?? [] });
  io.stdout(current.fingerprint + '\n');
}

async function readCertOnly(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ChatError('E_CERT', `cannot read the certificate file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

interface ServeArgs {
  host: string;
  port: number;
  data?: string;
  cert?: string;
  key?: string;
  registration: 'open' | 'closed';
  redis?: string;
  relayId?: string;
  link?: string;
  linkAdvertise?: string;
  proxyProtocol?: boolean;
  trustedProxy?: string[];
  files?: string;
}

async function serve(argv: ServeArgs, io: CliIO): Promise<void> {
  if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new ChatError('E_USAGE', '--port must be a whole number from 0 to 65535');
  if (Boolean(argv.cert) !== Boolean(argv.key)) throw new ChatError('E_USAGE', '--cert and --key go together');
  const dataDir = dataDirOf(argv, io);
  if (argv.relayId !== undefined && !argv.redis) throw new ChatError('E_USAGE', '--relay-id names this relay in a cluster; it needs --redis');
  if (argv.redis !== undefined && !/^rediss?:\/\//.test(argv.redis)) throw new ChatError('E_USAGE', '--redis takes a URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)');
  if (argv.relayId !== undefined && !/^[A-Za-z0-9_.-]{1,32}$/.test(argv.relayId)) throw new ChatError('E_USAGE', '--relay-id: 1 to 32 letters, digits, dots, dashes or underscores');
  if ((argv.link !== undefined || argv.linkAdvertise !== undefined) && !argv.redis) throw new ChatError('E_USAGE', '--link and --link-advertise are for relays of a cluster; they need --redis');
  const { splitAddress } = await import('./relay-link.js');
  const link = argv.link === undefined ? undefined : splitAddress(argv.link);
  if (argv.linkAdvertise !== undefined) splitAddress(argv.linkAdvertise);
  if (Boolean(argv.proxyProtocol) !== Boolean(argv.trustedProxy?.length)) {
    throw new ChatError('E_USAGE', '--proxy-protocol and --trusted-proxy ADDR[,ADDR] go together: the relay takes a PROXY header only from the proxies it trusts');
  }
  const trustedProxies = argv.proxyProtocol ? argv.trustedProxy : undefined;
  if (trustedProxies) (await import('./proxy-front.js')).parseTrustedProxies(trustedProxies);
  // Loaded here, not at the top, so account commands start quickly and never load TLS code.
  const { startRelay } = await import('./server.js');
  const log = (line: string) => io.stderr(`${new Date().toISOString()} ${line}\n`);
  let relay;
  try {
    relay = await startRelay({
      host: argv.host,
      port: argv.port,
      dataDir,
      certFile: argv.cert,
      keyFile: argv.key,
      registration: argv.registration,
      filesDir: argv.files ? resolve(argv.files) : undefined,
      trustedProxies,
      cluster: argv.redis
        ? { redisUrl: argv.redis, relayId: argv.relayId ?? `${hostname()}-${process.pid}`, link: { host: link?.host, port: link?.port, advertise: argv.linkAdvertise } }
        : undefined,
      log,
    });
  } catch (error) {
    if (error instanceof ChatError && error.code === 'E_DATA_LOCKED') {
      io.stderr(`relay: data folder ${dataDir} is in use by a running relay (stop it first, or give this one another --data folder)\n`);
      throw new CliExit(2);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ChatError('E_USAGE', `${formatHostPort(argv.host, argv.port)} is already in use (another relay? pick another --port)`);
    if (code === 'EADDRNOTAVAIL') throw new ChatError('E_USAGE', `${argv.host} is not an address of this machine (use 0.0.0.0 to listen on all of them)`);
    if (code === 'EACCES') throw new ChatError('E_USAGE', `not allowed to listen on ${formatHostPort(argv.host, argv.port)} (ports below 1024 need privileges)`);
    throw error;
  }
  const running = relay;
  const stopped = new Promise<void>((done) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        io.stderr(`relay: ${signal} again, exiting without a clean shutdown\n`);
        process.exit(1);
      }
      log(`${signal} received, shutting down (send it again to force)`);
      running.close('shutdown').then(
        () => {
          log('stopped');
          done();
        },
        (error: unknown) => {
          log(`shutdown failed: ${(error as Error).message}`);
          done();
        },
      );
    };
    // Installed before the first line is printed: whoever reads it may signal at once.
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // SIGHUP (systemctl reload, a certbot deploy hook): present a renewed --cert/--key.
    process.on('SIGHUP', () => {
      running.reloadCertificate().catch((error: unknown) => log(`certificate reload refused, the old one stays: ${(error as Error).message}`));
    });
  });
  io.stdout(listeningLine(relay.host, relay.port, relay.fingerprint) + '\n');
  log(
    `data folder ${dataDir}, registration ${argv.registration}${argv.cert ? `, certificate ${argv.cert}` : ', self-signed certificate'}` +
      (argv.redis ? `, cluster ${redactUrl(argv.redis)} as ${argv.relayId ?? 'this host'}` : ''),
  );
  await stopped;
}

/** A Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

// ------------------------------------------------------------------ parser

function buildParser(args: string[], io: CliIO) {
  const data = dataOption(io);
  const redisAdmin = { type: 'string', describe: 'the Redis of a cluster (redis://HOST:PORT) instead of a data folder; the relays may keep running' } as const;
  const passwordFile = { type: 'string', describe: 'read the password from the first line of FILE' } as const;
  const passwordHelp = 'The password comes from --password-file, else the first line of stdin when it is not a terminal, else a prompt without echo (asked twice).';
  return yargs(args)
    .scriptName('relay')
    .usage('$0 <command> [options]\n\nThe securechat relay: TLS 1.3 chat rooms with accounts and history in LevelDB.')
    .command(
      'serve',
      'run the relay',
      (y) =>
        y
          .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; 0.0.0.0 (or ::) to accept connections from other machines, e.g. on a VPS' })
          .option('port', { type: 'number', default: 7443, describe: 'TCP port; 0 picks a free one (the first line shows which)' })
          .option('data', data)
          .option('cert', { type: 'string', describe: 'PEM certificate (chain) to serve, e.g. from a CA; needs --key' })
          .option('key', { type: 'string', describe: 'PEM private key of --cert' })
          .option('registration', { choices: ['open', 'closed'] as const, default: 'open' as const, describe: 'open: anyone may create an account; closed: only "relay user add"' })
          .option('files', { type: 'string', describe: 'folder of room files (default: files/ in the data folder); in a cluster, one folder every relay shares' })
          .option('proxy-protocol', { type: 'boolean', describe: 'behind HAProxy: every connection starts with a PROXY protocol v2 header (send-proxy-v2); needs --trusted-proxy' })
          .option('trusted-proxy', { type: 'string', array: true, describe: 'ADDR[,ADDR] or CIDR of the proxies allowed to connect (everyone else is refused)' })
          .option('redis', { type: 'string', describe: 'run as one relay of a cluster sharing state through Redis, e.g. redis://127.0.0.1:6379' })
          .option('relay-id', { type: 'string', describe: 'this relay\'s name in the cluster (default: host name and process id); needs --redis' })
          .option('link', {
            type: 'string',
            describe: 'HOST:PORT where this relay takes relay links from the other relays (a relay pipe whose two sides reached different relays); default: --host on a free port. Only relays should reach it',
          })
          .option('link-advertise', { type: 'string', describe: 'HOST:PORT the other relays dial for relay links, when not the --link address (NAT, a wildcard --link)' })
          .example('$0 serve --redis redis://127.0.0.1:6379 --relay-id r1 --cert c.pem --key k.pem --files /srv/securechat/files', 'one relay of a cluster: every relay has the same certificate and the same files folder')
          .example('$0 serve', 'local relay on 127.0.0.1:7443 with a self-signed certificate')
          .example('$0 serve --host 0.0.0.0 --registration closed', 'on a VPS: reachable from anywhere, accounts made with "relay user add"')
          .example('$0 serve --host 0.0.0.0 --port 443 --cert fullchain.pem --key privkey.pem', 'with a CA-issued certificate (e.g. Let\'s Encrypt)')
          .example('$0 serve --port 0 --data /tmp/relay', 'a throwaway relay on a free port')
          .epilog(
            'The first line on stdout is exactly:\n  securechat relay listening on HOST:PORT fingerprint sha256:HEX\n' +
              '(IPv6 hosts in brackets). Log lines follow on stderr, one per event, never message contents.\n' +
              'Without --cert/--key a self-signed EC P-256 certificate is made in the data folder on first start and kept;\n' +
              'clients pin its fingerprint (securechat --fingerprint sha256:HEX, or --tofu).\n' +
              'SIGINT/SIGTERM: clients are told, LevelDB is closed cleanly, exit 0; a second signal exits at once.\n\n' +
              EPILOGUE,
          ),
      (argv) => serve(argv as unknown as ServeArgs, io),
    )
    .command(
      'cert',
      "print the relay certificate's SHA-256 fingerprint",
      (y) =>
        y
          .option('data', data)
          .option('regenerate', { type: 'boolean', default: false, describe: 'replace the self-signed certificate (pinned clients will refuse the new one)' })
          .option('san', { type: 'string', array: true, describe: 'extra DNS name or IP for a new certificate (repeatable)' })
          .option('cert', { type: 'string', describe: 'print the fingerprint of this PEM certificate instead' })
          .option('key', { type: 'string', describe: 'with --cert: also check that this key belongs to it' })
          .example('$0 cert', 'fingerprint of the data folder\'s certificate (made if missing)')
          .example('$0 cert --regenerate --san chat.example.org --san 203.0.113.7', 'new certificate valid for extra names')
          .example('$0 cert --cert fullchain.pem', 'fingerprint of a CA-issued certificate')
          .epilog('Prints sha256:HEX alone on stdout; warnings go to stderr.\n\n' + EPILOGUE),
      (argv) => cert(argv, io),
    )
    .command('user', 'manage accounts (stop the relay first)', (y) =>
      y
        .command(
          'add <name>',
          'create an account',
          (yy) =>
            yy
              .positional('name', { type: 'string', demandOption: true, describe: 'user name: 1-32 letters, digits, _ . - (case-insensitive; not a reserved name)' })
              .option('data', data)
              .option('redis', redisAdmin)
              .option('password-file', passwordFile)
              .example('$0 user add alice', 'asks for the password twice')
              .example("printf '%s\\n' \"$PW\" | $0 user add alice", 'password from stdin')
              .example('$0 user add bob --password-file bob.pw --data /srv/relay', 'password from a file')
              .epilog(
                `${passwordHelp} ${DEFAULT_LIMITS.minPasswordChars}-${DEFAULT_LIMITS.maxPasswordChars} characters.\n` +
                  `Reserved names (they would read like the global room, the relay or its operators): ${[...RESERVED_USER_NAMES].join(', ')}.\n\n${EPILOGUE}`,
              ),
          (argv) => userAdd(argv as { name: string; data?: string; passwordFile?: string }, io),
        )
        .command(
          'remove <name>',
          'delete an account and end its resumable sessions',
          (yy) =>
            yy
              .positional('name', { type: 'string', demandOption: true })
              .option('data', data)
              .option('redis', redisAdmin)
              .example('$0 user remove alice', '')
              .epilog(EPILOGUE),
          (argv) => userRemove(argv as { name: string; data?: string }, io),
        )
        .command(
          'list',
          'list accounts',
          (yy) =>
            yy
              .option('data', data)
              .option('redis', redisAdmin)
              .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' })
              .example('$0 user list', '')
              .epilog(EPILOGUE),
          (argv) => userList(argv, io),
        )
        .command(
          'passwd <name>',
          'set a new password (existing resume tokens are revoked)',
          (yy) =>
            yy
              .positional('name', { type: 'string', demandOption: true })
              .option('data', data)
              .option('redis', redisAdmin)
              .option('password-file', passwordFile)
              .example('$0 user passwd alice', '')
              .epilog(`${passwordHelp} ${DEFAULT_LIMITS.minPasswordChars}-${DEFAULT_LIMITS.maxPasswordChars} characters.\n\n${EPILOGUE}`),
          (argv) => userPasswd(argv as { name: string; data?: string; passwordFile?: string }, io),
        )
        .demandCommand(1, 'name a user command: add, remove, list or passwd')
        .epilog('While a relay runs on the data folder it holds the lock: stop it first, or let people register themselves with "relay serve --registration open".\n\n' + EPILOGUE),
    )
    .command(
      'audit',
      'show recent audit events (logins, failures, account changes), newest first',
      (y) =>
        y
          .option('data', data)
              .option('redis', redisAdmin)
          .option('limit', { type: 'number', default: 50, describe: 'how many events' })
          .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' })
          .example('$0 audit --limit 200', '')
          .epilog(EPILOGUE),
      (argv) => auditList(argv, io),
    )
    .demandCommand(1, 'name a command: serve, cert, user or audit')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .epilog(EPILOGUE)
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(message);
    });
}

/** Run the CLI with `args` (without node and script); resolves with the exit status. */
export async function main(args: string[], io: CliIO = processIO): Promise<number> {
  try {
    await buildParser(args, io).parseAsync();
    return 0;
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIO): number {
  if (error instanceof CliExit) return error.exitCode;
  if (error instanceof ChatError) {
    io.stderr(`relay: ${error.message}\n`);
    return USAGE_CODES.has(error.code) ? 2 : 1;
  }
  if (error instanceof UsageError) {
    io.stderr(`relay: ${error.message}\nrun "relay --help" for usage\n`);
    return 2;
  }
  const e = error as Error | undefined;
  io.stderr(`relay: ${e?.message ?? String(error)}\n`);
  if (io.env.SECURECHAT_DEBUG) io.stderr(`${e?.stack ?? ''}\n`);
  return 1;
}

function isMainModule(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainModule()) {
  const code = await main(hideBin(process.argv));
  // Pipes and files are written synchronously on Linux, so nothing printed is lost.
  process.exit(code);
}
