/**
 * The transfer commands as typed (parsing, which client method runs), Tab completion of
 * local paths after `/send USER `, and how transfer events show in the TUI's model, status
 * bar and text. Pure apart from a temp folder for the path lister.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TabCompleter, complete, completionTarget, type CompletionSources } from '../../../../tui/completion.js';
import type { ChatClient } from '../../../../tui/core/client.js';
import { parseCommandLine } from '../../../../tui/core/commands.js';
import { listPathCompletions } from '../../../../tui/path-completion.js';
import { renderStatus } from '../../../../tui/view/render.js';
import { ViewModel } from '../../../../tui/view/state.js';
import { unstyle } from '../../../../tui/view/style.js';
import { formatBytes, formatEta, formatSpeed, formatTransferLine } from '../../../../tui/view/transfer-format.js';
import { command, errorCode } from '../../../helpers/core-helpers.js';
import { makeTempDir } from '../../../helpers/temp.js';

const ID = 'AbCdEfGh12345678';

test('/send USER PATH, /accept ID [DIR], /reject ID, /cancel ID, /transfers parse', () => {
  assert.equal(command('/send bob ./report.pdf'), { name: 'send', args: { to: 'bob', file: './report.pdf' } });
  assert.equal(command('/send bob my holiday photo.jpg'), { name: 'send', args: { to: 'bob', file: 'my holiday photo.jpg' } });
  assert.equal(command('/send bob "quoted name.txt"'), { name: 'send', args: { to: 'bob', file: 'quoted name.txt' } });
  assert.equal(command(`/accept ${ID}`), { name: 'accept', args: { id: ID } });
  assert.equal(command(`/accept ${ID} ~/Downloads/in box`), { name: 'accept', args: { id: ID, dir: '~/Downloads/in box' } });
  assert.equal(command(`/reject ${ID}`), { name: 'reject', args: ID });
  assert.equal(command('/cancel AbCd'), { name: 'cancel', args: 'AbCd' });
  assert.equal(command('/transfers'), { name: 'transfers', args: null });
  for (const bad of ['/send', '/send bob', '/send bob   ', '/send bad/name file', '/accept', '/accept bad*id', '/reject', `/reject ${ID} x`, '/cancel', '/transfers all']) {
    assert.ok(['E_USAGE', 'E_BAD_NAME'].includes(errorCode(bad)), bad);
  }
});

test('the transfer commands call the matching client methods', async () => {
  const calls: unknown[][] = [];
  const fake = new Proxy({}, { get: (_t, method: string) => (...args: unknown[]) => calls.push([method, ...args]) }) as ChatClient;
  for (const line of ['/send bob a.txt', `/accept ${ID}`, `/accept ${ID} /tmp`, `/reject ${ID}`, `/cancel ${ID}`, '/transfers']) {
    const parsed = parseCommandLine(line);
    if (parsed.kind !== 'command') throw new Error(line);
    await parsed.command.run(fake, parsed.args);
  }
  assert.equal(calls, [
    ['sendFile', 'bob', 'a.txt'],
    ['acceptTransfer', ID, undefined],
    ['acceptTransfer', ID, '/tmp'],
    ['rejectTransfer', ID],
    ['cancelTransfer', ID],
    ['listTransfers'],
  ]);
});

test('Tab after /send USER completes local paths: folders keep going, files get a space', async () => {
  const dir = await makeTempDir('securechat-paths-');
  try {
    await fs.mkdir(path.join(dir, 'photos'));
    await fs.writeFile(path.join(dir, 'photos', 'cat.jpg'), 'x');
    await fs.writeFile(path.join(dir, 'plan.txt'), 'x');
    await fs.writeFile(path.join(dir, '.hidden'), 'x');
    await fs.writeFile(path.join(dir, 'with space.txt'), 'x');
    const lister = (word: string) => listPathCompletions(word, { cwd: dir, home: dir });
    assert.equal(lister('p'), ['photos/', 'plan.txt']);
    assert.equal(lister(''), ['photos/', 'plan.txt']);
    assert.equal(lister('.h'), ['.hidden']);
    assert.equal(lister('photos/'), ['photos/cat.jpg']);
    assert.equal(lister('~/pl'), ['~/plan.txt']);
    assert.equal(lister(`${dir}/pho`), [`${dir}/photos/`]);
    assert.equal(lister('missing/x'), []);

    const sources: CompletionSources = { commands: ['/send'], nicks: ['bob'], rooms: [], paths: lister };
    assert.equal(completionTarget('/send bob ph', 12).kind, 'path');
    assert.equal(completionTarget(`/accept ${ID} ph`, 10 + ID.length).kind, 'path');
    assert.equal(completionTarget('/send bo', 8).kind, 'nick');
    assert.equal(completionTarget('/whisper bob ph', 15).kind, 'nick');
    assert.equal(complete('/send bob pho', 13, sources)?.line, '/send bob photos/');
    assert.equal(complete('/send bob photos/c', 18, sources)?.line, '/send bob photos/cat.jpg ');
    const tab = new TabCompleter();
    const first = tab.next('/send bob p', 11, sources)!;
    assert.equal(first.line, '/send bob photos/');
    const second = tab.next(first.line, first.cursor, sources)!;
    assert.equal(second.line, '/send bob plan.txt ');
    // Transfer ids after /accept, /reject, /cancel.
    const withIds: CompletionSources = { ...sources, transferIds: [ID, 'Zz999999abcdefgh'] };
    assert.equal(completionTarget(`/cancel Ab`, 10).kind, 'transfer');
    assert.equal(complete('/accept Ab', 10, withIds)?.line, `/accept ${ID} `);
    assert.equal(complete('/reject Zz', 10, withIds)?.line, '/reject Zz999999abcdefgh ');
    // Without a lister there is nothing to offer.
    assert.is(complete('/send bob p', 11, { commands: [], nicks: [], rooms: [] }), null);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('formatting: sizes, speeds, time left, the status line of a transfer', () => {
  assert.is(formatBytes(512), '512 B');
  assert.is(formatBytes(1536), '1.5 KB');
  assert.is(formatBytes(50 * 1024 * 1024), '50.0 MB');
  assert.is(formatSpeed(0), '-');
  assert.is(formatSpeed(2 * 1024 * 1024), '2.0 MB/s');
  assert.is(formatEta(null), '?');
  assert.is(formatEta(45), '45s');
  assert.is(formatEta(185), '3m05s');
  assert.is(formatEta(7800), '2h10m');
  const line = { id: ID, direction: 'in' as const, peer: 'ann', name: 'a.bin', state: 'transferring', path: 'relay', percent: 45.2, bytes: 0, total: 0, speedBps: 1024 * 1024, etaSec: 8, };
  assert.is(formatTransferLine(line), '↓ a.bin 45% 1.0 MB/s 8s relay');
  assert.is(formatTransferLine({ ...line, state: 'connecting', direction: 'out' }), '↑ a.bin connecting');
});

test('the view: an offer (with how to answer), progress in the status bar, done and failed lines, /transfers', () => {
  const model = new ViewModel({ server: 'relay:7443', user: 'bob', now: () => 1000 });
  const effects = model.apply({ type: 'transfer-offer', id: ID, from: 'ann', name: 'report\u001b[31m.pdf', size: 2048, hash: 'c'.repeat(64) });
  assert.ok(effects.bell);
  const offer = model.current.lines.at(-1)!;
  assert.is(offer.nick, 'ann');
  assert.ok(offer.text.includes('/accept AbCdEfGh'), offer.text);
  assert.ok(offer.text.includes('2.0 KB'));
  assert.not.ok(offer.text.includes('\u001b'), 'sanitized');
  assert.ok(offer.text.includes('SHA-256 cccccccccccccccc…'), 'an older sender\'s offer shows its hash');
  model.apply({ type: 'transfer-offer', id: 'Zz' + ID.slice(2), from: 'ann', name: 'new.pdf', size: 2048, hash: '' });
  assert.ok(model.current.lines.at(-1)!.text.includes('SHA-256 checked when it arrives'), model.current.lines.at(-1)!.text);
  model.apply({ type: 'transfer-failed', id: 'Zz' + ID.slice(2), direction: 'in', peer: 'ann', name: 'new.pdf', state: 'rejected', code: 'E_REJECTED', message: 'rejected' });
  assert.equal([...model.files.transfers.keys()], [ID], 'an offer waiting shows in the status bar');
  assert.match(unstyle(renderStatus(model, 200, 1000)), /↓ report\S*pdf offered/);

  model.apply({ type: 'transfer-state', id: ID, direction: 'in', peer: 'ann', name: 'report.pdf', state: 'connecting', path: null, file: '/d/report.pdf.part' });
  model.apply({ type: 'transfer-state', id: ID, direction: 'in', peer: 'ann', name: 'report.pdf', state: 'transferring', path: 'relay', file: '/d/report.pdf.part' });
  model.apply({ type: 'transfer-progress', id: ID, bytes: 1024, total: 2048, percent: 50, speedBps: 4096, etaSec: 1, path: 'relay' });
  const status = unstyle(renderStatus(model, 200, 1000));
  assert.ok(status.includes('↓ report.pdf 50% 4.0 KB/s 1s relay'), status);
  assert.ok(model.current.lines.some((l) => l.text.includes('transferring via relay')));

  model.apply({ type: 'transfer-state', id: ID, direction: 'in', peer: 'ann', name: 'report.pdf', state: 'reconnecting', path: 'relay', file: '/d/report.pdf.part' });
  assert.ok(model.current.lines.at(-1)!.text.includes('connection lost, resuming'));
  // After a restart the transfer comes back from the journal: said so once, not as a loss.
  const RESTORED = 'R'.repeat(16);
  model.apply({ type: 'transfer-state', id: RESTORED, direction: 'out', peer: 'ann', name: 'big.iso', state: 'reconnecting', path: null, file: '/s/big.iso', restored: true });
  assert.ok(model.current.lines.at(-1)!.text.includes('sending big.iso to ann: picked up from the last run'), model.current.lines.at(-1)!.text);
  model.files.transfers.delete(RESTORED);

  model.apply({ type: 'transfer-done', id: ID, direction: 'in', peer: 'ann', name: 'report.pdf', size: 2048, file: '/d/report.pdf', hash: 'c'.repeat(64), path: 'relay', elapsedMs: 2000, avgBps: 1024 });
  assert.is(model.files.transfers.size, 0);
  assert.ok(model.current.lines.at(-1)!.text.includes('saved as /d/report.pdf'));
  assert.ok(model.current.lines.at(-1)!.text.endsWith('hash verified via relay; took 2.0s, 1.0 KB/s average'), model.current.lines.at(-1)!.text);
  assert.not.ok(unstyle(renderStatus(model, 200, 1000)).includes('report.pdf'));

  model.apply({ type: 'transfer-failed', id: 'X'.repeat(16), direction: 'out', peer: 'ann', name: 'b.bin', state: 'rejected', code: 'E_REJECTED', message: 'rejected' });
  const failed = model.current.lines.at(-1)!;
  assert.is(failed.kind, 'error');
  assert.ok(failed.text.includes('E_REJECTED'));

  model.apply({
    type: 'transfers',
    transfers: [
      { id: ID, direction: 'in', peer: 'ann', name: 'report.pdf', size: 2048, hash: 'c'.repeat(64), state: 'completed', path: 'relay', bytes: 2048, percent: 100, speedBps: 0, etaSec: 0, file: '/d/report.pdf', sessions: 1 },
    ],
  });
  const listing = model.current.lines.at(-1)!.text;
  assert.ok(listing.startsWith('file transfers:'));
  assert.ok(listing.includes('AbCdEfGh  report.pdf from ann: completed via relay, 100.0% of 2.0 KB'), listing);
  model.apply({ type: 'transfers', transfers: [] });
  assert.ok(model.current.lines.at(-1)!.text.startsWith('no file transfers'));
});

test.run();
