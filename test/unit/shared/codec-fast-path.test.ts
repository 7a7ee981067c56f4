import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RelayMessage, asRoomMessage, parseRelayMessage } from '../../../shared/messages.js';

/** What zod alone says of a value: the parsed message, or null when it refuses. */
function viaZod(value: unknown): unknown {
  const result = RelayMessage.safeParse(value);
  return result.success ? result.data : null;
}

const valid = { t: 'message', room: 'dev', seq: 7, from: 'ann', text: 'hi', time: 1_700_000_000_000, id: 'abc_-9' };

/** Values for each field at and around every limit the schema has, and of the wrong types. */
const variants: Record<string, unknown[]> = {
  t: ['message', 'presence', 'Message', '', undefined, null, 1],
  room: ['', 'a', 'x'.repeat(64), 'x'.repeat(65), '漢'.repeat(64), '😀'.repeat(32), '😀'.repeat(33), '😀'.repeat(65), 3, null, undefined, ['dev']],
  seq: [0, -0, 1, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 60, NaN, Infinity, -Infinity, '7', null, undefined],
  from: ['', 'b', 'y'.repeat(64), 'y'.repeat(65), 5, null, undefined],
  text: ['', 'z'.repeat(16 * 1024), 'z'.repeat(16 * 1024 + 1), '\u0000\u001b[2J', 1, null, undefined, { toString: () => 'x' }],
  time: [0, -1, 1.25, Number.MAX_VALUE, NaN, Infinity, -Infinity, '1', null, undefined],
  id: ['a', 'A'.repeat(64), 'A'.repeat(65), '', 'has space', 'ä', '-_', 'a\n', 9, null, undefined],
};

test('the hand-checked room message agrees with zod on every field at and around its limits', () => {
  let accepted = 0;
  for (const [field, values] of Object.entries(variants)) {
    for (const v of values) {
      const candidate: Record<string, unknown> = { ...valid, [field]: v };
      if (v === undefined) delete candidate[field];
      const fast = asRoomMessage(candidate);
      const zod = viaZod(candidate);
      if (fast !== null) {
        accepted += 1;
        assert.equal(fast, zod, `${field} = ${String(v)}: fast path accepted what zod ${zod === null ? 'refuses' : 'parses differently'}`);
      }
      // Whatever the fast path leaves to zod still gets zod's answer (e.g. names measured in
      // code points: 33 emoji are 66 UTF-16 units, which only zod counts as fitting).
      const parsed = parseRelayMessage(candidate);
      assert.equal(parsed.ok ? parsed.value : null, zod, `${field} = ${String(v)}`);
    }
  }
  assert.ok(accepted > 20, `only ${accepted} variants accepted`);
});

test('unknown fields are dropped and non-objects refused, as zod does', () => {
  const extra = { ...valid, admin: true, __proto__: { polluted: 1 } };
  assert.equal(asRoomMessage(extra), viaZod(extra));
  assert.equal(Object.keys(asRoomMessage(extra)!), ['t', 'room', 'seq', 'from', 'text', 'time', 'id']);
  for (const value of [null, undefined, 'message', 7, [valid], true]) assert.is(asRoomMessage(value), null);
});

test('parseRelayMessage still refuses a bad message with zod\'s explanation', () => {
  const parsed = parseRelayMessage({ ...valid, seq: -1 });
  assert.is(parsed.ok, false);
  assert.match(parsed.ok ? '' : parsed.error, /seq/);
  assert.equal(parseRelayMessage(valid), { ok: true, value: valid });
});

test.run();
