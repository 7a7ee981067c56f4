import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageLog } from '../../../relay/message-log.js';
import type { AppendOutcome, MessageDraft, RelayStore, StoredMessage } from '../../../relay/store.js';

/**
 * The part of a store MessageLog uses, answered by hand: each appendMessages call waits until the
 * test releases it, so the test decides in which order calls complete. Numbering follows call
 * order, as every RelayStore numbers (the contract suite proves that of the real ones).
 */
function handStore(appendsInFlight: number) {
  let seq = 0;
  const calls: Array<{ drafts: readonly MessageDraft[]; release: () => void; fail: (error: Error) => void }> = [];
  const store = {
    appendsInFlight,
    appendMessages(drafts: readonly MessageDraft[]): Promise<AppendOutcome[]> {
      const outcomes = drafts.map((draft): AppendOutcome => ({ message: { ...draft, seq: ++seq }, duplicate: false }));
      return new Promise((resolve, reject) => calls.push({ drafts, release: () => resolve(outcomes), fail: reject }));
    },
  };
  return { store: store as unknown as RelayStore, calls };
}

const draft = (id: string): MessageDraft => ({ room: 'global', roomKey: 'global', from: 'ann', text: id, time: 1, id });
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('one tick of appends is one batch; with one in flight the next batch waits for it', async () => {
  const { store, calls } = handStore(1);
  const committed: number[][] = [];
  const log = new MessageLog(store, (messages) => committed.push(messages.map((m) => m.seq)));
  const first = [log.append(draft('a')), log.append(draft('b'))];
  await tick();
  assert.equal(calls.map((c) => c.drafts.map((d) => d.id)), [['a', 'b']]);
  const third = log.append(draft('c'));
  await tick();
  assert.is(calls.length, 1, 'the second batch waits while one is in flight');
  calls[0].release();
  assert.equal((await Promise.all(first)).map((o) => o.message.seq), [1, 2]);
  await tick();
  assert.equal(calls[1].drafts.map((d) => d.id), ['c']);
  calls[1].release();
  assert.is((await third).message.seq, 3);
  assert.equal(committed, [[1, 2], [3]]);
});

test('batches in flight together settle in the order they were sent, whatever order the store answers in', async () => {
  const { store, calls } = handStore(4);
  const order: string[] = [];
  const log = new MessageLog(store, (messages) => order.push(`committed ${messages.map((m) => m.text).join(',')}`));
  const appended: Array<Promise<AppendOutcome>> = [];
  for (const id of ['a', 'b', 'c']) {
    const outcome = log.append(draft(id));
    outcome.then(() => order.push(`acked ${id}`));
    appended.push(outcome);
    await tick();
  }
  assert.is(calls.length, 3, 'three batches under way at once');
  calls[2].release();
  calls[1].release();
  await tick();
  assert.equal(order, [], 'nothing settles before the first batch');
  calls[0].release();
  await Promise.all(appended);
  assert.equal(order, ['committed a', 'acked a', 'committed b', 'acked b', 'committed c', 'acked c']);
});

test('at most appendsInFlight batches are under way; the rest join the next batch', async () => {
  const { store, calls } = handStore(2);
  const log = new MessageLog(store, () => {});
  const appended = ['a', 'b', 'c', 'd'].map((id) => log.append(draft(id)));
  await tick();
  const more = [log.append(draft('e')), log.append(draft('f'))];
  await tick();
  const late = log.append(draft('g'));
  await tick();
  assert.equal(calls.map((c) => c.drafts.map((d) => d.id)), [['a', 'b', 'c', 'd'], ['e', 'f']]);
  calls[0].release();
  await Promise.all(appended);
  await tick();
  assert.equal(calls[2].drafts.map((d) => d.id), ['g']);
  calls[1].release();
  calls[2].release();
  assert.equal((await Promise.all([...more, late])).map((o) => o.message.seq), [5, 6, 7]);
});

test('a failed batch rejects its own appends only; the batches after it are stored and acknowledged', async () => {
  const { store, calls } = handStore(4);
  const committed: StoredMessage[] = [];
  const log = new MessageLog(store, (messages) => committed.push(...messages));
  const lost = log.append(draft('a'));
  await tick();
  const kept = log.append(draft('b'));
  await tick();
  calls[0].fail(new Error('connection lost'));
  calls[1].release();
  assert.match(String(await lost.then(() => 'stored', (error: Error) => error.message)), /connection lost/);
  assert.is((await kept).message.text, 'b');
  assert.equal(committed.map((m) => m.text), ['b']);
});

test('duplicates (retried client ids) are acknowledged but not committed again', async () => {
  const { store, calls } = handStore(1);
  const committed: string[] = [];
  const log = new MessageLog(store, (messages) => committed.push(...messages.map((m) => m.text)));
  const original = store.appendMessages.bind(store);
  store.appendMessages = async (drafts) => (await original(drafts)).map((outcome) => ({ ...outcome, duplicate: outcome.message.text === 'again' }));
  const outcomes = [log.append(draft('new')), log.append(draft('again'))];
  await tick();
  calls[0].release();
  assert.equal((await Promise.all(outcomes)).map((o) => o.duplicate), [false, true]);
  assert.equal(committed, ['new']);
});

test('a throwing onCommitted does not stop later batches from settling', async () => {
  const { store, calls } = handStore(2);
  let committedCalls = 0;
  const log = new MessageLog(store, () => {
    committedCalls += 1;
    if (committedCalls === 1) throw new Error('bug in the caller');
  });
  const first = log.append(draft('a'));
  await tick();
  const second = log.append(draft('b'));
  await tick();
  calls[0].release();
  calls[1].release();
  assert.is((await first).message.seq, 1);
  assert.is((await second).message.seq, 2);
});

test('flush resolves once every append so far is settled', async () => {
  const { store, calls } = handStore(2);
  const log = new MessageLog(store, () => {});
  const settled: string[] = [];
  void log.append(draft('a')).then(() => settled.push('a'));
  await tick();
  void log.append(draft('b')).then(() => settled.push('b'));
  let flushed = false;
  const flushing = log.flush().then(() => (flushed = true));
  await tick();
  assert.is(calls.length, 2);
  calls[0].release();
  await tick();
  assert.is(flushed, false, 'the second batch is still under way');
  calls[1].release();
  await flushing;
  assert.equal(settled, ['a', 'b']);
});

test.run();
