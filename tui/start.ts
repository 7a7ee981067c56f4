#!/usr/bin/env node
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ChatError } from '../shared/errors.js';
import { runTui } from './app.js';
import { formatServerAddress } from './core/address.js';
import { dataDir } from './core/paths.js';
import { PROXY_ENV, proxyFromCli } from './core/proxy.js';
import { DEFAULT_LOCAL_PORT, LOCAL_RELAY_FOLDER, exists, readRunningInfo, startLocalRelay, type LocalRelay } from './local-relay.js';
import { runMain } from './run-main.js';

/**
 * `npm start`: the embedded default. A relay on 127.0.0.1 (port 7443, or a free one when that
 * is taken) with its data in `<data dir>/local-relay`, and the TUI connected to it with the
 * relay's fingerprint pinned, so a newcomer sees securechat working right after `npm install`.
 * Quitting the TUI closes the relay cleanly. A second `npm start` while the first runs finds
 * the data folder locked and joins the running relay instead (so two terminals can chat).
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
  let fingerprint: string;
  const banner: string[] = [];
  try {
    local = await startLocalRelay(folder, argv.host, argv.port);
    server = formatServerAddress({ host: local.relay.host, port: local.relay.port });
    fingerprint = local.relay.fingerprint;
    banner.push(`Welcome to securechat. A local relay is running on ${server}, its data in ${folder}.`);
    if (local.portTaken) banner.push(`Port ${argv.port} was taken, so the relay uses port ${local.relay.port} instead.`);
    banner.push(
      firstRun
        ? 'Choose a user name and a password (8 characters or more); "create a new account" is ticked for your first visit.'
        : 'Log in, or tick "create a new account" to make another one.',
    );
    banner.push('To chat with yourself, run npm start in a second terminal: it joins this relay. Quitting here stops the relay.');
  } catch (error) {
    if (!(error instanceof ChatError && error.code === 'E_DATA_LOCKED')) throw error;
    // Another `npm start` holds the folder: join its relay.
    const running = await readRunningInfo(folder);
    if (!running) {
      process.stderr.write(`securechat: ${error.message}\n`);
      return 1;
    }
    server = formatServerAddress({ host: running.host, port: running.port });
    fingerprint = running.fingerprint;
    banner.push(`The local relay on ${server} is already running (another npm start); joining it.`);
    banner.push('Log in, or tick "create a new account" if you are new here.');
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
    await local?.close();
  }
}

runMain(main);
