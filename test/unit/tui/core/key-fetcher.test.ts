import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../shared/errors.js';
import { MAX_KEYS_PER_REQUEST } from '../../../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../../../shared/messages.js';
import { KeyFetcher } from '../../../../tui/core/key-fetcher.js';

const BUNDLE = { v: 1, sign: 's', box: 'b', sig: 'g' } as const;

/** A relay in one function: answers key-batch (and keys) from `known` (name → has keys). */
function relay(known: Record<string, boolean>, options: { batch?: boolean } = {}) {
  const requests: ClientMessage[] = [];
  let id = 0;
  const fetcher = new KeyFetcher({
    nextId: () => `k${id++}`,
    request: async <T>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T): Promise<T> => {
      requests.push(message);
      const lookup = (user: string) => Object.entries(known).find(([name]) => name.toLowerCase() === user.toLowerCase());
      if (message.t === 'key-batch') {
        if (options.batch === false) throw new ChatError('E_PROTOCOL', 'invalid request: t: unknown');
        const found = [];
        const missing = [];
        for (const user of message.users) {
          const hit = lookup(user);
          if (!hit) missing.push({ user, code: 'E_NO_SUCH_USER' as const });
          else if (!hit[1]) missing.push({ user: hit[0], code: 'E_NO_KEY' as const });
          else found.push({ user: hit[0], keys: BUNDLE });
        }
        return apply({ t: 'key-batch', re: message.id, found, missing });
      }
      if (message.t === 'keys') {
        const hit = lookup(message.user);
        if (!hit) throw new ChatError('E_NO_SUCH_USER');
        if (!hit[1]) throw new ChatError('E_NO_KEY');
        return apply({ t: 'keys', re: message.id, user: hit[0], keys: BUNDLE });
      }
      throw new Error(`unexpected ${message.t}`);
    },
  });
  return { fetcher, requests };
}

const outcome = (p: Promise<{ user: string }>) => p.then((r) => r.user, (e: ChatError) => e.code);

test('the lookups of one turn are one request; each caller gets its own answer or error', async () => {
  const { fetcher, requests } = relay({ Bob: true, cat: true, oldtimer: false });
  const answers = await Promise.all([
    outcome(fetcher.fetch('bob')),
    outcome(fetcher.fetch('cat')),
    outcome(fetcher.fetch('nobody')),
    outcome(fetcher.fetch('oldtimer')),
    outcome(fetcher.fetch('BOB')),
  ]);
  assert.equal(answers, ['Bob', 'cat', 'E_NO_SUCH_USER', 'E_NO_KEY', 'Bob']);
  assert.equal(requests.map((r) => r.t === 'key-batch' && r.users), [['bob', 'cat', 'nobody', 'oldtimer']], 'one request, each user once');
});

test('more users than one request may name are split', async () => {
  const known = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`u${i}`, true]));
  const { fetcher, requests } = relay(known);
  const answers = await Promise.all(Object.keys(known).map((user) => outcome(fetcher.fetch(user))));
  assert.equal(answers, Object.keys(known));
  assert.equal(requests.map((r) => (r.t === 'key-batch' ? r.users.length : 0)), [MAX_KEYS_PER_REQUEST, MAX_KEYS_PER_REQUEST, 150 - 2 * MAX_KEYS_PER_REQUEST]);
});

test('a relay without key-batch: the same answers, one keys request per user, from then on', async () => {
  const { fetcher, requests } = relay({ bob: true, oldtimer: false }, { batch: false });
  assert.equal(await Promise.all([outcome(fetcher.fetch('bob')), outcome(fetcher.fetch('oldtimer')), outcome(fetcher.fetch('nobody'))]), ['bob', 'E_NO_KEY', 'E_NO_SUCH_USER']);
  assert.equal(await outcome(fetcher.fetch('bob')), 'bob');
  assert.equal(requests.map((r) => r.t), ['key-batch', 'keys', 'keys', 'keys', 'keys']);
});

test.run();
