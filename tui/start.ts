#!/usr/bin/env node
// First: keeps V8's young generation small from the start (a transfer would grow it to 16 MB semi-spaces).
import './young-generation-first.js';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runTui } from './app.js';
import { formatServerAddress } from './core/address.js';
import { dataDir } from './core/paths.js';
import { PROXY_ENV, proxyFromCli } from './core/proxy.js';
import { DEFAULT_LOCAL_PORT, LOCAL_RELAY_FOLDER, exists, openLocalRelay, type LocalRelay } from './local-relay.js';
import { runMain } from './run-main.js';

/**
 * `npm start`: the embedded default. A relay on 127.0.0.1 (port 7443, or a free one when that
 * is taken) with its data in `<data dir>/local-relay`, and the TUI connected to it with the
 * relay's fingerprint pinned, so a newcomer sees securechat working right after `npm install`.
 * Quitting the TUI closes the relay cleanly (other clients on it are told why). A second
 * `npm start` joins the running relay instead of starting another: its own data folder's
 * (locked), or another user's found listening on the wanted port (its fingerprint then goes to
 * the trust screen), so two terminals, or two users of one machine, meet.
 */

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm start --')
    .usage('$0 [options]\n\nRuns a local securechat relay and the full-screen client connected to it.')
    .option('port', { type: 'number', default: DEFAULT_LOCAL_PORT, describe: 'port for the local relay (a free one is used if it is taken)' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address the local relay listens on' })
    .option('user', { type: 'string', describe: 'your user name (with SECURECHAT_PASSWORD: straight to the chat)' })
    .option('proxy', {
      type: 'string',
      describe: `reach the relay through a SOCKS5 proxy, socks5h://[USER:PASS@]HOST:PORT or socks5://... (else ${PROXY_ENV}); transfers then go through the relay only`,
      requiresArg: true,
    })
    .strict()
    .help()
    .parseAsync();

  let proxy;
  try {
    proxy = proxyFromCli(argv.proxy);
  } catch (error) {
    process.stderr.write(`securechat: ${(error as Error).message}\n`);
    return 2;
  }
  const folder = path.join(dataDir(), LOCAL_RELAY_FOLDER);
  const firstRun = !(await exists(folder));
  let local: LocalRelay | null = null;
  let server: string;
  let fingerprint: string | undefined;
  const banner: string[] = [];
  const choice = await openLocalRelay(folder, argv.host, argv.port);
  if (choice.kind === 'started') {
    local = choice.local;
    server = formatServerAddress({ host: local.relay.host, port: local.relay.port });
    fingerprint = local.relay.fingerprint;
    banner.push(`Welcome to securechat. A local relay is running on ${server}, its data in ${folder}.`);
    if (local.portTaken) banner.push(`Port ${argv.port} was taken (not by a relay), so the relay uses port ${local.relay.port} instead.`);
    banner.push(
      firstRun
        ? 'Choose a user name and a password (8 characters or more); "create a new account" is ticked for your first visit.'
        : 'Log in, or tick "create a new account" to make another one.',
    );
    banner.push('To chat with yourself, run npm start in a second terminal: it joins this relay. Quitting here stops the relay.');
  } else if (choice.ownFolder) {
    server = formatServerAddress({ host: choice.host, port: choice.port });
    fingerprint = choice.fingerprint;
    banner.push(`The local relay on ${server} is already running (another npm start); joining it.`);
    banner.push('Log in, or tick "create a new account" if you are new here.');
  } else {
    // Another user's (or another HOME's) npm start runs it: join it, and let the user check
    // its certificate on the trust screen rather than pin it silently.
    server = formatServerAddress({ host: choice.host, port: choice.port });
    fingerprint = undefined;
    banner.push(`A relay is already running on ${server}, started by another npm start (another user or HOME); joining it.`);
    banner.push(`Its certificate fingerprint is ${choice.fingerprint}: the next screen asks whether to trust it.`);
    banner.push('It stops when the npm start that runs it quits. Log in, or tick "create a new account" if you are new here.');
  }

  try {
    return await runTui({
      server,
      fingerprint,
      user: argv.user,
      password: process.env.SECURECHAT_PASSWORD,
      passphrase: process.env.SECURECHAT_PASSPHRASE || undefined,
      register: local !== null && firstRun,
      reconnect: true,
      banner,
      ...(proxy !== undefined ? { client: { proxy } } : {}),
    });
  } finally {
    const others = await local?.close();
    if (others) process.stderr.write(`securechat: stopped the local relay; ${others} other connection(s) on it were told it is stopping.\n`);
  }
}

runMain(main);
