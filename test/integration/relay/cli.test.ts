import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultDataDir, formatHostPort, listeningLine, main, type CliIO } from '../../../relay/cli.js';
import { createSelfSignedCertificate, listenerFingerprint, loadOrCreateCertificate } from '../../../relay/certs.js';
import { PasswordHasher } from '../../../relay/passwords.js';
import { LevelStore } from '../../../relay/level-store.js';
import { firstLine, promptHidden, promptNewPassword, readFirstLine } from '../../../relay/prompt.js';
import { ChatError } from '../../../shared/errors.js';
import { tempFolders } from '../../helpers/temp.js';

const CLI = fileURLToPath(new URL('../../../relay/cli.js', import.meta.url));
/** Upper bound for one child process; it normally takes well under a second. */
const CHILD_DEADLINE_MS = 60_000;

const temp = tempFolders('securechat-cli-');

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real bin; `input` is written to its stdin (which is then closed). */
function runCli(args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const deadline = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** Run main() in this process with captured output. */
async function runMain(args: string[], input = ''): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end(input);
  const io: CliIO = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin, env: { HOME: homedir() } };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

test.after(temp.removeAll);

test('defaultDataDir follows SECURECHAT_RELAY_DATA, then XDG_DATA_HOME, then ~/.local/share', () => {
  assert.is(defaultDataDir({ SECURECHAT_RELAY_DATA: '/srv/relay', XDG_DATA_HOME: '/x' }), '/srv/relay');
  assert.is(defaultDataDir({ XDG_DATA_HOME: '/x' }), '/x/securechat/relay');
  assert.is(defaultDataDir({}), join(homedir(), '.local', 'share', 'securechat', 'relay'));
});

test('the listening line: HOST:PORT with IPv6 in brackets', () => {
  assert.is(formatHostPort('127.0.0.1', 7443), '127.0.0.1:7443');
  assert.is(formatHostPort('::1', 1), '[::1]:1');
  assert.is(
    listeningLine('0.0.0.0', 7443, 'sha256:' + 'ab'.repeat(32)),
    `securechat relay listening on 0.0.0.0:7443 fingerprint sha256:${'ab'.repeat(32)}`,
  );
});

test('bin: user add (file and stdin), list, duplicate, passwd, remove, audit', async () => {
  const data = await temp.make();
  const pwFile = join(data, '..', `pw-${process.pid}.txt`);
  await writeFile(pwFile, 'alice-secret-1\nignored second line\n');
  temp.track(pwFile);

  let r = await runCli(['user', 'add', 'Alice', '--data', data, '--password-file', pwFile]);
  assert.is(r.code, 0, r.stderr);
  r = await runCli(['user', 'add', 'bob', '--data', data], 'bob-secret-12\n');
  assert.is(r.code, 0, r.stderr);
  r = await runCli(['user', 'add', 'ALICE', '--data', data], 'whatever-123\n');
  assert.is(r.code, 1);
  assert.is(r.stdout, '');

  r = await runCli(['user', 'list', '--data', data, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l).name), ['Alice', 'bob']);
  r = await runCli(['user', 'list', '--data', data]);
  assert.match(r.stdout, /^Alice +created \d{4}-/m);

  // The stored hashes are real argon2id hashes of the given passwords.
  const check = async (user: string, password: string) => {
    const store = await LevelStore.open(data);
    const hasher = new PasswordHasher({ workers: 1 });
    try {
      const account = await store.getAccount(user);
      return account !== undefined && (await hasher.verify(account.passwordHash, password));
    } finally {
      await hasher.close();
      await store.close();
    }
  };
  assert.is(await check('alice', 'alice-secret-1'), true);
  assert.is(await check('bob', 'bob-secret-12'), true);

  // passwd revokes resume tokens.
  let store = await LevelStore.open(data);
  const token = await store.issueToken('bob', 60_000);
  await store.close();
  r = await runCli(['user', 'passwd', 'BOB', '--data', data], 'bob-new-secret\n');
  assert.is(r.code, 0, r.stderr);
  assert.is(await check('bob', 'bob-new-secret'), true);
  store = await LevelStore.open(data);
  assert.is(await store.checkToken('bob', token), false);
  await store.close();

  r = await runCli(['user', 'remove', 'alice', '--data', data]);
  assert.is(r.code, 0, r.stderr);
  r = await runCli(['user', 'remove', 'alice', '--data', data]);
  assert.is(r.code, 1);
  r = await runCli(['user', 'passwd', 'alice', '--data', data], 'x-long-enough\n');
  assert.is(r.code, 1);
  r = await runCli(['user', 'list', '--data', data, '--json']);
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l).name), ['bob']);

  r = await runCli(['audit', '--data', data, '--json']);
  assert.is(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; user: string });
  assert.equal(
    events.map((e) => `${e.event} ${e.user}`),
    ['account-removed Alice', 'password-changed bob', 'account-added bob', 'account-added Alice'],
  );
});

test('bin: bad names, short passwords and bad usage exit 2 without touching accounts', async () => {
  const data = await temp.make();
  for (const [args, input] of [
    [['user', 'add', 'bad name', '--data', data], 'long-enough-pw\n'],
    [['user', 'add', 'global!', '--data', data], 'long-enough-pw\n'],
    [['user', 'add', 'carol', '--data', data], 'short\n'],
    [['user', 'add', 'carol', '--data', data], ''],
    [['user', 'add', 'carol', '--data', data, '--password-file', join(data, 'missing')], ''],
    [['user', 'add', '--data', data], ''],
    [['user', 'frobnicate', '--data', data], ''],
    [['nonsense'], ''],
    [[], ''],
    [['serve', '--port', '70000', '--data', data], ''],
    [['serve', '--cert', 'x.pem', '--data', data], ''],
  ] as Array<[string[], string]>) {
    const r = await runCli(args, input);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const r = await runCli(['user', 'list', '--data', data, '--json']);
  assert.is(r.stdout, '');
});

test('bin: while the store is open elsewhere, commands say the folder is in use and exit 2', async () => {
  const data = await temp.make();
  const store = await LevelStore.open(data);
  try {
    for (const args of [
      ['user', 'list', '--data', data],
      ['user', 'add', 'dave', '--data', data, '--password-file', '/dev/null'],
      ['user', 'remove', 'dave', '--data', data],
      ['audit', '--data', data],
      ['cert', '--regenerate', '--data', data],
    ]) {
      const r = await runCli(args);
      assert.is(r.code, 2, args.join(' '));
      assert.ok(r.stderr.includes(data) && r.stderr.includes('in use by a running relay'), r.stderr);
      assert.is(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
    }
  } finally {
    await store.close();
  }
});

test('bin: cert prints the data folder fingerprint, regenerates on request, reads --cert files', async () => {
  const data = await temp.make();
  let r = await runCli(['cert', '--data', data]);
  assert.is(r.code, 0, r.stderr);
  const first = r.stdout.trim();
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  assert.is(first, (await loadOrCreateCertificate(data)).fingerprint);
  r = await runCli(['cert', '--data', data]);
  assert.is(r.stdout.trim(), first);

  r = await runCli(['cert', '--data', data, '--regenerate', '--san', 'chat.example.org']);
  assert.is(r.code, 0, r.stderr);
  const second = r.stdout.trim();
  assert.match(second, /^sha256:[0-9a-f]{64}$/);
  assert.is.not(second, first);
  assert.ok(r.stderr.length > 0, 'warns about pinned clients');
  assert.is(second, (await loadOrCreateCertificate(data)).fingerprint);

  r = await runCli(['cert', '--cert', join(data, 'relay-cert.pem')]);
  assert.is(r.stdout.trim(), second);
  r = await runCli(['cert', '--cert', join(data, 'relay-cert.pem'), '--key', join(data, 'relay-key.pem')]);
  assert.is(r.stdout.trim(), second);
  r = await runCli(['cert', '--cert', join(data, 'missing.pem')]);
  assert.is(r.code, 1);
});

test('bin: --help works for every command', async () => {
  for (const args of [['--help'], ['cert', '--help'], ['user', 'add', '--help'], ['audit', '--help']]) {
    const r = await runCli(args);
    assert.is(r.code, 0, args.join(' '));
    assert.ok(r.stdout.includes('relay'), args.join(' '));
  }
  const r = await runCli(['serve', '--help']);
  assert.ok(r.stdout.includes('0.0.0.0'));
});

test('in process: main() returns exit codes and writes through the given io', async () => {
  const data = await temp.make();
  let r = await runMain(['user', 'add', 'erin', '--data', data], 'erin-secret-1\n');
  assert.is(r.code, 0, r.stderr);
  r = await runMain(['user', 'list', '--data', data]);
  assert.match(r.stdout, /^erin /);
  r = await runMain(['user', 'add', 'erin', '--data', data], 'erin-secret-1\n');
  assert.is(r.code, 1);
  r = await runMain(['user', 'list', '--data', join(data, 'empty')]);
  assert.is(r.code, 0);
  assert.is(r.stdout, '');
});

test('user add: reserved names and over-long passwords exit 2 (the wire register rules); an old reserved account can still change its password', async () => {
  const data = await temp.make();
  for (const [name, input] of [
    ['global', 'long-enough-pw\n'],
    ['Global', 'long-enough-pw\n'],
    ['admin', 'long-enough-pw\n'],
    ['relay', 'long-enough-pw\n'],
    ['carol', 'x'.repeat(1_025) + '\n'],
    ['carol', 'short\n'],
  ] as Array<[string, string]>) {
    const r = await runMain(['user', 'add', name, '--data', data], input);
    assert.is(r.code, 2, `${name}: ${r.stderr}`);
  }
  assert.is((await runMain(['user', 'list', '--data', data, '--json'])).stdout, '');
  let r = await runMain(['user', 'add', 'carol', '--data', data], 'x'.repeat(1_024) + '\n');
  assert.is(r.code, 0, r.stderr);
  // An account named before the rule existed keeps working with the admin commands.
  const store = await LevelStore.open(data);
  const hasher = new PasswordHasher({ workers: 1, opsLimit: 1, memLimitBytes: 8192 });
  try {
    await store.createAccount('global', await hasher.hash('old-password'));
  } finally {
    await hasher.close();
    await store.close();
  }
  r = await runMain(['user', 'passwd', 'global', '--data', data], 'x'.repeat(1_025) + '\n');
  assert.is(r.code, 2, r.stderr);
  r = await runMain(['user', 'passwd', 'global', '--data', data], 'new-password\n');
  assert.is(r.code, 0, r.stderr);
});

/** A stand-in terminal: records raw-mode switches; typing is pushed in as chunks. */
function fakeTty() {
  const input = Object.assign(new PassThrough(), {
    isTTY: true,
    isRaw: false,
    modes: [] as boolean[],
    setRawMode(mode: boolean) {
      this.isRaw = mode;
      this.modes.push(mode);
      return this;
    },
  });
  let shown = '';
  const output = new PassThrough();
  output.on('data', (d: Buffer) => (shown += d.toString()));
  return { input, output, shown: () => shown };
}

/** Wait (bounded) until the fake terminal has shown `text`. */
async function shownSoon(tty: ReturnType<typeof fakeTty>, text: string): Promise<void> {
  for (let i = 0; i < 1_000 && !tty.shown().includes(text); i++) await new Promise((r) => setImmediate(r));
  assert.ok(tty.shown().includes(text), `the terminal shows ${text}`);
}

test('prompt: no echo, backspace edits, raw mode restored, Ctrl-C cancels, two entries must match', async () => {
  let tty = fakeTty();
  let answer = promptHidden('Password: ', tty.input, tty.output);
  tty.input.write('sec');
  tty.input.write('rex\u007ft\r');
  assert.is(await answer, 'secret');
  assert.equal(tty.input.modes, [true, false]);
  assert.is(tty.shown(), 'Password: \n');

  tty = fakeTty();
  answer = promptHidden('Password: ', tty.input, tty.output);
  tty.input.write('abc\u0003');
  try {
    await answer;
    assert.unreachable('cancelled');
  } catch (error) {
    assert.is((error as ChatError).code, 'E_USAGE');
  }
  assert.is(tty.input.isRaw, false);

  tty = fakeTty();
  const both = promptNewPassword(tty.input, tty.output);
  tty.input.write('first-one\r');
  await shownSoon(tty, 'Repeat password: ');
  tty.input.write('first-one\n');
  assert.is(await both, 'first-one');

  tty = fakeTty();
  const differ = promptNewPassword(tty.input, tty.output).then(
    () => 'accepted',
    (error: ChatError) => error.code,
  );
  tty.input.write('first-one\r');
  await shownSoon(tty, 'Repeat password: ');
  tty.input.write('second-one\r');
  assert.is(await differ, 'E_USAGE');
});

test('prompt: first lines of text and of piped streams', async () => {
  assert.is(firstLine('a\r\nb'), 'a');
  assert.is(firstLine('only'), 'only');
  assert.is(firstLine(''), '');
  const pipe = new PassThrough();
  const line = readFirstLine(pipe);
  pipe.write('pass');
  pipe.write('word\nrest');
  assert.is(await line, 'password');
  const empty = new PassThrough();
  empty.end();
  assert.is(await readFirstLine(empty), '');
});

/** Start `relay serve` and wait for its first line. */
function startServe(args: string[]): Promise<{ child: ChildProcess; firstLine: string; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay serve printed no line: ${err}`));
    }, CHILD_DEADLINE_MS);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const end = out.indexOf('\n');
      if (end >= 0) {
        clearTimeout(deadline);
        resolve({ child, firstLine: out.slice(0, end), stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`relay serve exited with ${code}: ${err}`));
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

test('bin: serve prints the listening line first, holds the lock, and exits 0 on SIGTERM', async () => {
  const data = await temp.make();
  const { child, firstLine, stderr } = await startServe(['--port', '0', '--data', data]);
  try {
    const match = /^securechat relay listening on 127\.0\.0\.1:(\d+) fingerprint (sha256:[0-9a-f]{64})$/.exec(firstLine);
    assert.ok(match, firstLine);
    assert.ok(Number(match![1]) > 0);
    assert.is(match![2], (await loadOrCreateCertificate(data)).fingerprint);
    const r = await runCli(['user', 'list', '--data', data]);
    assert.is(r.code, 2);
    assert.ok(r.stderr.includes('in use by a running relay'));
    // A second relay on the same folder is refused the same way.
    const second = await runCli(['serve', '--port', '0', '--data', data]);
    assert.is(second.code, 2);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exitOf(child), 0, stderr());
  // The lock is released: admin commands work again.
  const r = await runCli(['user', 'list', '--data', data]);
  assert.is(r.code, 0, r.stderr);
});

test('bin: SIGHUP presents a renewed --cert/--key to new connections; a bad pair is refused and the old one stays', async () => {
  const data = await temp.make();
  const certFile = join(data, 'fullchain.pem');
  const keyFile = join(data, 'privkey.pem');
  const first = await createSelfSignedCertificate();
  const renewed = await createSelfSignedCertificate();
  await writeFile(certFile, first.cert);
  await writeFile(keyFile, first.key);
  const { child, firstLine, stderr } = await startServe(['--port', '0', '--data', data, '--cert', certFile, '--key', keyFile]);
  try {
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(firstLine)![1]);
    assert.is(await listenerFingerprint('127.0.0.1', port), first.fingerprint);
    await writeFile(certFile, renewed.cert);
    await writeFile(keyFile, renewed.key);
    child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (!stderr().includes('certificate reloaded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(stderr().includes(`certificate reloaded from ${certFile}: ${renewed.fingerprint}`), stderr());
    assert.is(await listenerFingerprint('127.0.0.1', port), renewed.fingerprint);
    // A half-renewed pair (new key, old certificate) is refused; the relay keeps serving the last good one.
    await writeFile(keyFile, first.key);
    await writeFile(certFile, renewed.cert);
    child.kill('SIGHUP');
    while (!stderr().includes('certificate reload refused') && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(stderr().includes('certificate reload refused, the old one stays'), stderr());
    assert.is(await listenerFingerprint('127.0.0.1', port), renewed.fingerprint);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exitOf(child), 0, stderr());
});

test('bin: serve on ::1 shows the host in brackets', async () => {
  const data = await temp.make();
  const { child, firstLine } = await startServe(['--host', '::1', '--port', '0', '--data', data]);
  child.kill('SIGINT');
  assert.match(firstLine, /^securechat relay listening on \[::1\]:\d+ fingerprint sha256:[0-9a-f]{64}$/);
  assert.is(await exitOf(child), 0);
});

test.run();
