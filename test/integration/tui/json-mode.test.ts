import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../relay/server.js';
import type { ChatEvent, ChatEventOf, ChatEventType } from '../../../tui/core/events.js';
import { plainSuite } from '../../helpers/core-helpers.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';

/** `securechat --json` as a real child process (the built bin) against a real relay. */
const CLI = fileURLToPath(new URL('../../../tui/cli.js', import.meta.url));
const PASSWORD = 'correct horse battery';
const WAIT_MS = 20_000;

class Chat {
  readonly events: ChatEvent[] = [];
  readonly stderr: string[] = [];
  /** Lines on stdout that were not JSON objects (must stay empty). */
  readonly junk: string[] = [];
  readonly exited: Promise<number>;
  private waiters: Array<() => void> = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    let buffer = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        try {
          const value = JSON.parse(line);
          if (typeof value?.type !== 'string') throw new Error('no type');
          this.events.push(value);
        } catch {
          this.junk.push(line);
        }
      }
      for (const wake of [...this.waiters]) wake();
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => this.stderr.push(chunk));
    proc.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => proc.on('close', (code) => resolve(code ?? -1)));
  }

  of<T extends ChatEventType>(type: T): ChatEventOf<T>[] {
    return this.events.filter((e): e is ChatEventOf<T> => e.type === type);
  }

  waitFor<T extends ChatEventType>(type: T, match: (e: ChatEventOf<T>) => boolean = () => true): Promise<ChatEventOf<T>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of(type).find(match);
        if (!found) return false;
        clearTimeout(timer);
        this.waiters.splice(this.waiters.indexOf(check), 1);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(check), 1);
        reject(new Error(`no "${type}" line within ${WAIT_MS} ms; got ${JSON.stringify(this.events)} ${this.stderr.join('')}`));
      }, WAIT_MS);
      this.waiters.push(check);
      check();
    });
  }

  send(line: string): void {
    this.proc.stdin.write(line + '\n');
  }

  end(): void {
    this.proc.stdin.end();
  }
}

type Ctx = { dir: { path: string; remove: () => Promise<void> }; relay: RunningRelay; chats: Chat[] };
const spec = suite<Ctx>('securechat --json');
const it = plainSuite(spec);

it.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-json-');
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'));
  ctx.chats = [];
});

it.after.each(async (ctx) => {
  for (const chat of ctx.chats) if (chat.proc.exitCode === null) chat.proc.kill();
  await Promise.all(ctx.chats.map((c) => c.exited));
  await ctx.relay.close();
  await ctx.dir.remove();
});

function start(ctx: Ctx, args: string[], env: Record<string, string | undefined> = {}): Chat {
  const proc = spawn(process.execPath, [CLI, '--json', ...args], {
    env: {
      ...process.env,
      SECURECHAT_PASSWORD: PASSWORD,
      SECURECHAT_CONFIG_DIR: path.join(ctx.dir.path, 'config'),
      SECURECHAT_DATA_DIR: path.join(ctx.dir.path, 'data'),
      ...env,
    },
    stdio: 'pipe',
  });
  const chat = new Chat(proc);
  ctx.chats.push(chat);
  return chat;
}

/** Flags for this test's relay, pinned by fingerprint. */
function to(ctx: Ctx, user: string, ...more: string[]): string[] {
  return ['--server', `127.0.0.1:${ctx.relay.port}`, '--user', user, '--fingerprint', ctx.relay.fingerprint, ...more];
}

it('two instances talk: messages, whispers, rooms, users; /exit ends with status 0', async (ctx) => {
  const ann = start(ctx, to(ctx, 'ann', '--register'));
  const joined = await ann.waitFor('joined');
  assert.is(joined.room, 'global');
  assert.equal(ann.events.map((e) => e.type).slice(0, 2), ['connected', 'joined']);
  const bob = start(ctx, to(ctx, 'bob', '--register'));
  await bob.waitFor('joined');
  await ann.waitFor('presence', (p) => p.user === 'bob' && p.event === 'join');

  bob.send('hello ann');
  const heard = await ann.waitFor('message', (m) => m.text === 'hello ann');
  assert.is(heard.from, 'bob');
  assert.is(heard.room, 'global');
  const ack = await bob.waitFor('ack');
  assert.is(ack.id, heard.id);
  await bob.waitFor('message', (m) => m.own === true && m.text === 'hello ann');

  ann.send('/whisper bob just for you');
  const whisper = await bob.waitFor('whisper');
  assert.equal([whisper.from, whisper.text], ['ann', 'just for you']);

  ann.send('/create den');
  ann.send('in the den');
  await ann.waitFor('ack');
  bob.send('/chatrooms');
  const rooms = await bob.waitFor('rooms');
  assert.equal(rooms.rooms, [{ name: 'den', members: 1 }]);
  bob.send('/join den');
  bob.send('/users');
  const users = await bob.waitFor('users');
  assert.equal(users.users.sort(), ['ann', 'bob']);
  assert.ok(bob.of('joined').some((j) => j.room === 'den' && j.history.some((m) => m.text === 'in the den')));
  // IRC habits: /away shows in /users; /ignore hides ann's messages (an `ignored` line answers).
  ann.send('/away lunch');
  assert.equal((await bob.waitFor('away')).text, 'lunch');
  bob.send('/names');
  assert.equal((await bob.waitFor('users', (u) => u.away !== undefined)).away, { ann: 'lunch' });
  bob.send('/ignore ann');
  assert.equal((await bob.waitFor('ignored')).users, ['ann']);
  ann.send('hidden from bob');
  await ann.waitFor('message', (m) => m.own === true && m.text === 'hidden from bob');
  bob.send('/unignore ann');
  await bob.waitFor('ignored', (e) => e.change === 'removed');
  ann.send('/back');
  ann.send('seen by bob');
  await bob.waitFor('message', (m) => m.text === 'seen by bob');
  assert.not.ok(bob.of('message').some((m) => m.text === 'hidden from bob'), 'never printed');
  bob.send('/nonsense');
  bob.send('/whisper');
  const errors = [await bob.waitFor('error', (e) => e.code === 'E_UNKNOWN_COMMAND'), await bob.waitFor('error', (e) => e.code === 'E_USAGE')];
  assert.is(errors[1].command, 'whisper');
  bob.send('/ping');
  await bob.waitFor('rtt');

  ann.send('/exit');
  bob.send('/quit');
  assert.is(await ann.exited, 0);
  assert.is(await bob.exited, 0);
  assert.equal(ann.junk, []);
  assert.equal(bob.junk, []);
  assert.is(ann.events.at(-1)?.type, 'disconnected');
});

it('whispers: encrypted end to end, shown as whisper events; a changed key is a key-changed event until /trust', async (ctx) => {
  const ann = start(ctx, to(ctx, 'ann', '--register'));
  await ann.waitFor('joined');
  const bob = start(ctx, to(ctx, 'bob', '--register'));
  await bob.waitFor('joined');
  const bobJoins = () => ann.of('presence').filter((p) => p.user === 'bob' && p.event === 'join').length;
  await ann.waitFor('presence', () => bobJoins() === 1);

  ann.send('/whisper bob sealed for bob');
  const whisper = await bob.waitFor('whisper');
  assert.equal([whisper.from, whisper.to, whisper.text, whisper.verified], ['ann', 'bob', 'sealed for bob', false]);
  const own = await ann.waitFor('whisper', (w) => w.own === true);
  assert.equal([own.to, own.text, own.verified], ['bob', 'sealed for bob', false]);
  ann.send('/verify bob');
  bob.send('/verify ann');
  const [annView, bobView] = [await ann.waitFor('verify'), await bob.waitFor('verify')];
  assert.is(annView.safetyNumber, bobView.safetyNumber);
  assert.is(annView.user, 'bob');
  bob.end();
  assert.is(await bob.exited, 0);

  // Bob again, from another machine: another data folder, so new keys.
  const laptop = start(ctx, to(ctx, 'bob'), { SECURECHAT_DATA_DIR: path.join(ctx.dir.path, 'laptop-data') });
  await laptop.waitFor('joined');
  await ann.waitFor('presence', () => bobJoins() === 2);
  ann.send('/whisper bob is that you?');
  const changed = await ann.waitFor('key-changed');
  assert.is(changed.user, 'bob');
  assert.is(changed.oldFingerprint, annView.fingerprint);
  assert.is.not(changed.newFingerprint, annView.fingerprint);
  const refused = await ann.waitFor('error', (e) => e.code === 'E_KEY_CHANGED');
  assert.is(refused.command, 'whisper');
  ann.send('/trust bob');
  const trusted = await ann.waitFor('trusted');
  assert.equal([trusted.user, trusted.accepted, trusted.fingerprint], ['bob', true, changed.newFingerprint]);
  ann.send('/whisper bob welcome back');
  const got = await laptop.waitFor('whisper', (w) => !w.own);
  assert.equal([got.from, got.text], ['ann', 'welcome back']);
  assert.equal(laptop.of('whisper').filter((w) => w.text === 'is that you?'), [], 'never sent to the new key before /trust');

  ann.end();
  laptop.end();
  assert.is(await ann.exited, 0);
  assert.is(await laptop.exited, 0);
  assert.equal(ann.junk, []);
});

it('end of input: exits 0 once every message is acknowledged (more than the flood burst, paced)', async (ctx) => {
  const listener = start(ctx, to(ctx, 'ann', '--register'));
  await listener.waitFor('joined');
  const lines = Array.from({ length: 120 }, (_, i) => `line ${i + 1}`);
  const script = start(ctx, to(ctx, 'bob', '--register'));
  script.proc.stdin.end(lines.join('\n') + '\n');
  assert.is(await script.exited, 0);
  assert.is(script.of('ack').length, 120);
  assert.equal(script.of('error'), []);
  for (const line of lines) await listener.waitFor('message', (m) => m.text === line);
  assert.equal(listener.of('message').map((m) => m.text), lines);
  listener.end();
  assert.is(await listener.exited, 0);
});

it('a file transfer: one transfer-state line per change of state or path, on both sides', async (ctx) => {
  const file = path.join(ctx.dir.path, 'notes.txt');
  await fs.writeFile(file, 'x'.repeat(64 * 1024));
  const inbox = path.join(ctx.dir.path, 'inbox');
  await fs.mkdir(inbox);
  const ann = start(ctx, to(ctx, 'ann', '--register'));
  await ann.waitFor('joined');
  const bob = start(ctx, to(ctx, 'bob', '--register'));
  await bob.waitFor('joined');
  await ann.waitFor('presence', (p) => p.user === 'bob' && p.event === 'join');

  ann.send(`/send bob ${file}`);
  const offer = await bob.waitFor('transfer-offer');
  bob.send(`/accept ${offer.id} ${inbox}`);
  await bob.waitFor('transfer-done');
  await ann.waitFor('transfer-done');
  ann.send('/exit');
  bob.send('/exit');
  assert.is(await ann.exited, 0);
  assert.is(await bob.exited, 0);

  for (const chat of [ann, bob]) {
    const changes = chat.of('transfer-state').map((e) => `${e.state} ${e.path ?? '-'} ${e.file ?? '-'}`);
    const repeated = changes.filter((change, i) => i > 0 && change === changes[i - 1]);
    assert.equal(repeated, [], `each line is a change: ${JSON.stringify(changes)}`);
    const states = chat.of('transfer-state').map((e) => e.state);
    assert.ok(states.includes('connecting') && states.includes('transferring'), JSON.stringify(states));
    assert.is(states.filter((state) => state === 'connecting').length, 1, JSON.stringify(states));
  }
});

it('cannot connect: status 1 and an E_CONNECT line', async (ctx) => {
  const port = ctx.relay.port;
  await ctx.relay.close();
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay2'));
  const chat = start(ctx, ['--server', `127.0.0.1:${port}`, '--user', 'ann', '--tofu']);
  assert.is(await chat.exited, 1);
  assert.equal(chat.events.map((e) => e.type), ['error']);
  assert.is(chat.of('error')[0].code, 'E_CONNECT');
});

it('wrong password: status 1 and E_AUTH; no password: status 2 and E_USAGE', async (ctx) => {
  const ann = start(ctx, to(ctx, 'ann', '--register'));
  ann.end();
  assert.is(await ann.exited, 0);
  const wrong = start(ctx, to(ctx, 'ann'), { SECURECHAT_PASSWORD: 'not the password' });
  assert.is(await wrong.exited, 1);
  assert.is(wrong.of('error')[0]?.code, 'E_AUTH');
  const none = start(ctx, to(ctx, 'ann'), { SECURECHAT_PASSWORD: undefined });
  assert.is(await none.exited, 2);
  assert.is(none.of('error')[0]?.code, 'E_USAGE');
});

it('--password-file is read (one trailing newline dropped)', async (ctx) => {
  const file = path.join(ctx.dir.path, 'pw');
  await fs.writeFile(file, 'from a file 123\n', { mode: 0o600 });
  const reg = start(ctx, to(ctx, 'ann', '--register', '--password-file', file), { SECURECHAT_PASSWORD: undefined });
  reg.end();
  assert.is(await reg.exited, 0);
  const login = start(ctx, to(ctx, 'ann'), { SECURECHAT_PASSWORD: 'from a file 123' });
  await login.waitFor('connected');
  login.end();
  assert.is(await login.exited, 0);
});

it('trust: unknown relay refused (E_UNTRUSTED), --tofu records it, then it is known', async (ctx) => {
  const server = ['--server', `127.0.0.1:${ctx.relay.port}`];
  const refused = start(ctx, [...server, '--user', 'ann', '--register']);
  assert.is(await refused.exited, 1);
  const error = refused.of('error')[0];
  assert.is(error.code, 'E_UNTRUSTED');
  assert.is(error.details?.fingerprint, ctx.relay.fingerprint);

  const tofu = start(ctx, [...server, '--user', 'ann', '--register', '--tofu']);
  const trusted = await tofu.waitFor('trust-new');
  assert.is(trusted.fingerprint, ctx.relay.fingerprint);
  assert.is(trusted.recorded, true);
  tofu.end();
  assert.is(await tofu.exited, 0);
  const known = await fs.readFile(path.join(ctx.dir.path, 'config', 'known_relays'), 'utf8');
  assert.is(known, `127.0.0.1:${ctx.relay.port} ${ctx.relay.fingerprint}\n`);

  const again = start(ctx, [...server, '--user', 'ann']);
  await again.waitFor('connected');
  assert.is(again.of('trust-new').length, 0);
  again.end();
  assert.is(await again.exited, 0);

  const badPin = start(ctx, [...server, '--user', 'ann', '--fingerprint', 'nonsense']);
  assert.is(await badPin.exited, 2);
  assert.is(badPin.of('error')[0]?.code, 'E_USAGE');
});

it.run();
