import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../shared/errors.js';
import { resolveLimits } from '../../../../shared/limits.js';
import type { ClientMessage } from '../../../../shared/messages.js';
import { SendQueue } from '../../../../tui/core/send-queue.js';

/**
 * The send queue's lanes, on its own: the host is the queue's whole view of the client (is a
 * connection live, write one message), so what it wrote is what would have gone to the relay.
 */
function queue() {
  const written: ClientMessage[] = [];
  const q = new SendQueue(
    { canSend: () => true, write: (m) => void written.push(m), notOnline: () => new ChatError('E_CLOSED') },
    { limits: resolveLimits(), requestTimeoutMs: 60_000, maxUnacked: 100 },
  );
  return { q, written, sent: () => written.map((m) => ('to' in m ? `${m.t}>${m.to}:${'body' in m ? m.body : ''}` : m.t === 'say' ? `say:${m.text}` : m.t)) };
}

/** A build that waits until `open()` is called: a first contact whose keys are still being fetched and pinned. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const settleAll = () => new Promise((resolve) => setImmediate(resolve));

test('a whisper still being sealed (slow key fetch) holds later whispers to the same contact only', async () => {
  const { q, sent } = queue();
  const bobKeys = gate();
  const whisper = (to: string, body: string, wait?: Promise<void>) =>
    void q.pacedRequest(async () => {
      await wait;
      return { t: 'whisper', id: `${to}-${body}`, to, body };
    }, () => undefined, to).catch(() => {});
  whisper('bob', '1', bobKeys.opened);
  whisper('cat', '1');
  whisper('bob', '2');
  void q.say(() => 'm1', 'room line').catch(() => {});
  whisper('cat', '2');
  await settleAll();
  assert.equal(sent(), ['say:room line', 'whisper>cat:1', 'whisper>cat:2'], 'the others went (the room line at once, cat\'s once sealed); bob waits');
  bobKeys.open();
  await settleAll();
  assert.equal(sent().slice(3), ['whisper>bob:1', 'whisper>bob:2'], 'then bob, in call order');
});

test('a whisper whose sealing fails leaves its lane; the next one to the same contact goes', async () => {
  const { q, sent } = queue();
  const failing = q.pacedRequest(async () => {
    throw new ChatError('E_NO_KEY');
  }, () => undefined, 'bob');
  void q.pacedRequest(async () => ({ t: 'whisper', id: 'w2', to: 'bob', body: '2' }), () => undefined, 'bob').catch(() => {});
  await failing.then(() => assert.unreachable(), (e: ChatError) => assert.is(e.code, 'E_NO_KEY'));
  await settleAll();
  assert.equal(sent(), ['whisper>bob:2']);
});

test.run();
