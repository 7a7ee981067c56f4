#!/usr/bin/env node
// First: keeps V8's young generation small from the start (a transfer would grow it to 16 MB semi-spaces).
import './young-generation-first.js';
import fs from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ChatError, asChatError } from '../shared/errors.js';
import { DEFAULT_SERVER, parseServerAddress } from './core/address.js';
import type { ChatClientOptions } from './core/client.js';
import { PROXY_ENV, proxyFromCli, type ProxySettings } from './core/proxy.js';
import { EVENT_DOCS } from './core/events.js';
import { normalizeFingerprint } from './core/trust.js';
import { EXIT_USAGE, errorEvent, runJsonMode } from './json-mode.js';
import { runMain } from './run-main.js';

/** What the command line asked for, before any connection (shared by the JSON mode and the TUI). */
export interface CliOptions {
  json: boolean;
  server: string;
  user?: string;
  register: boolean;
  /** From --password-file, else SECURECHAT_PASSWORD; undefined when neither is given. */
  password?: string;
  /** SECURECHAT_PASSPHRASE: unlocks (or, on first run, protects) the identity key file. */
  passphrase?: string;
  fingerprint?: string;
  /** PEM text of the --ca file. */
  ca?: string;
  tofu: boolean;
  reconnect: boolean;
  /** File transfers may connect straight to the peer (false: --no-direct, relay pipe only). Default true. */
  direct?: boolean;
  /** From --proxy, else SECURECHAT_PROXY: every relay connection goes through this SOCKS5 proxy. */
  proxy?: ProxySettings;
}

/** Reads a password file: its content without the trailing newline. */
function readPasswordFile(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** The client options for a CliOptions (throws E_USAGE when something needed is missing). */
export function clientOptionsFrom(cli: CliOptions): ChatClientOptions {
  if (!cli.user) throw new ChatError('E_USAGE', '--user NAME is required');
  if (cli.password === undefined) throw new ChatError('E_USAGE', 'no password: set SECURECHAT_PASSWORD or use --password-file FILE');
  return {
    server: cli.server,
    user: cli.user,
    password: cli.password,
    passphrase: cli.passphrase,
    register: cli.register,
    reconnect: cli.reconnect,
    trust: { fingerprint: cli.fingerprint, ca: cli.ca, tofu: cli.tofu },
    ...(cli.direct === false ? { transfers: { direct: false } } : {}),
    ...(cli.proxy !== undefined ? { proxy: cli.proxy } : {}),
  };
}

// ==== TUI entry point =======================================================================
// The full-screen client (tui/app.ts, `runTui`) is not written yet. Its author replaces the
// body of this one function with `return (await import('./app.js')).runTui(cli)` or similar;
// nothing else in this file needs to change.
async function startInteractive(cli: CliOptions): Promise<number> {
  const client: Partial<ChatClientOptions> = {
    ...(cli.direct === false ? { transfers: { direct: false } } : {}),
    ...(cli.proxy !== undefined ? { proxy: cli.proxy } : {}),
  };
  return (await import('./app.js')).runTui({ ...cli, client });
}
// ==== end of TUI entry point ================================================================

async function main(): Promise<number> {
  const eventList = Object.entries(EVENT_DOCS)
    .map(([type, doc]) => `  ${type.padEnd(13)} ${doc}`)
    .join('\n');
  const argv = await yargs(hideBin(process.argv))
    .scriptName('securechat')
    .usage('$0 [options]\n\nA terminal chat client for a securechat relay. With --json it reads commands and\nmessages on stdin and writes one JSON event per line on stdout.')
    .option('json', { type: 'boolean', default: false, describe: 'JSON-lines mode (for bots and scripts) instead of the full-screen client' })
    .option('server', { type: 'string', default: DEFAULT_SERVER, describe: 'the relay, HOST:PORT', requiresArg: true })
    .option('user', { type: 'string', describe: 'your user name', requiresArg: true })
    .option('register', { type: 'boolean', default: false, describe: 'create the account (on a relay with open registration)' })
    .option('password-file', { type: 'string', describe: 'read the password from this file (else SECURECHAT_PASSWORD)', requiresArg: true })
    .option('fingerprint', { type: 'string', describe: "trust only the relay certificate with this fingerprint (sha256:HEX, as 'relay serve' prints it)", requiresArg: true })
    .option('ca', { type: 'string', describe: 'trust relays with a certificate from this CA (PEM file) instead of the system CAs', requiresArg: true })
    .option('tofu', { type: 'boolean', default: false, describe: 'trust a relay seen for the first time and remember it (known_relays in the config folder)' })
    .option('reconnect', { type: 'boolean', default: true, describe: 'reconnect after a lost connection (--no-reconnect to stop instead)' })
    .option('direct', {
      type: 'boolean',
      default: true,
      describe: 'file transfers connect straight to the peer when they can (--no-direct: always through the relay pipe)',
    })
    .option('proxy', {
      type: 'string',
      describe:
        `reach the relay through a SOCKS5 proxy: socks5h://[USER:PASS@]HOST:PORT (the proxy resolves the relay's name; ` +
        `the default, and what Tor needs) or socks5://... (resolved here); else ${PROXY_ENV}. File transfers then go through the relay only`,
      requiresArg: true,
    })
    .example('SECURECHAT_PASSWORD=s3cret-pass $0 --json --server localhost:7443 --user alice --register --tofu', 'create an account, trusting the relay on first use')
    .example('$0 --json --server chat.example.org:7443 --user bob --password-file ~/.chatpw', 'log in to a relay with a CA-issued certificate')
    .example('$0 --json --user carol --fingerprint sha256:3f1a...', 'pin the relay certificate printed by relay serve')
    .example('$0 --server chat.example.org:7443 --user erin --proxy socks5h://127.0.0.1:9050', 'connect through Tor (the relay never sees your address)')
    .example('printf "/join lobby\\nhello\\n/exit\\n" | $0 --json --user dave', 'a one-shot script: join a room, say hello, leave')
    .epilog(
      'Input lines (JSON mode): a slash command (/users /whisper /verify /trust /create /join ' +
        '/chatrooms /leave /history /send /accept /reject /cancel /transfers /ping /exit) or text for the current room ("//text" sends "/text"). ' +
        'Whispers are end-to-end encrypted; /verify USER shows the safety number to compare, /trust USER ' +
        'accepts a changed key (until then whispers to that user are refused with E_KEY_CHANGED).\n\n' +
        `Output events (one JSON object per line, "type" first):\n${eventList}\n\n` +
        'Exit status: 0 after /exit or end of input once every message is stored; 1 when it cannot\n' +
        'connect or log in, loses the relay for good, or a message was refused; 2 on wrong usage.\n\n' +
        'Files: known relays in $SECURECHAT_CONFIG_DIR, else $XDG_CONFIG_HOME/securechat, else ~/.config/securechat. ' +
        "Identity keys, contacts' key pins and whisper state in users/NAME of $SECURECHAT_DATA_DIR, else " +
        '$XDG_DATA_HOME/securechat, else ~/.local/share/securechat. SECURECHAT_PASSPHRASE protects (first run) ' +
        'or unlocks the identity key file.',
    )
    .strict()
    .help()
    .alias('h', 'help')
    .version('0.1.0')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .parseAsync();

  let cli: CliOptions;
  try {
    parseServerAddress(argv.server);
    cli = {
      json: argv.json,
      server: argv.server,
      user: argv.user,
      register: argv.register,
      password: argv.passwordFile !== undefined ? readPasswordFile(argv.passwordFile) : process.env.SECURECHAT_PASSWORD,
      passphrase: process.env.SECURECHAT_PASSPHRASE || undefined,
      fingerprint: argv.fingerprint !== undefined ? normalizeFingerprint(argv.fingerprint) : undefined,
      ca: argv.ca !== undefined ? fs.readFileSync(argv.ca, 'utf8') : undefined,
      tofu: argv.tofu,
      reconnect: argv.reconnect,
      direct: argv.direct,
      proxy: proxyFromCli(argv.proxy),
    };
  } catch (error) {
    const e = asChatError(error, 'E_USAGE');
    if (argv.json) process.stdout.write(JSON.stringify(errorEvent(e)) + '\n');
    else process.stderr.write(`securechat: ${e.message}\n`);
    return EXIT_USAGE;
  }

  if (!cli.json) return startInteractive(cli);

  let clientOptions: ChatClientOptions;
  try {
    clientOptions = clientOptionsFrom(cli);
  } catch (error) {
    process.stdout.write(JSON.stringify(errorEvent(error)) + '\n');
    return EXIT_USAGE;
  }
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runJsonMode({ client: clientOptions, input: process.stdin, output: process.stdout, signal: interrupt.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

runMain(main);
