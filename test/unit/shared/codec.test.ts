import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl, encodeFrame } from '../../../shared/codec.js';
import { thrownCode } from '../../helpers/errors.js';

test('a control frame round-trips', () => {
  const decoder = new FrameDecoder(1024);
  const frames = decoder.push(encodeControl({ t: 'ping', id: 'a1', text: 'héllo ✓ 世界' }));
  assert.is(frames.length, 1);
  assert.is(frames[0].kind, FrameKind.control);
  assert.equal(decodeControlPayload(frames[0].payload), { t: 'ping', id: 'a1', text: 'héllo ✓ 世界' });
});

test('a data frame keeps its bytes', () => {
  const bytes = Buffer.from([0, 1, 2, 255, 254]);
  const [frame] = new FrameDecoder(1024).push(encodeFrame(FrameKind.data, bytes));
  assert.is(frame.kind, FrameKind.data);
  assert.ok(frame.payload.equals(bytes));
});

test('frames split at every byte boundary are reassembled', () => {
  const wire = Buffer.concat([encodeControl({ a: 1 }), encodeControl({ b: 'two' }), encodeFrame(FrameKind.data, Buffer.alloc(7, 9))]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const decoder = new FrameDecoder(1024);
    const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
    assert.is(frames.length, 3, `cut at ${cut}`);
    assert.equal(decodeControlPayload(frames[1].payload), { b: 'two' });
    assert.is(decoder.bufferedBytes, 0);
  }
});

test('one byte at a time', () => {
  const wire = Buffer.concat([encodeControl({ x: 'y'.repeat(100) }), encodeControl({ z: 1 })]);
  const decoder = new FrameDecoder(1024);
  const frames = [];
  for (const byte of wire) frames.push(...decoder.push(Buffer.from([byte])));
  assert.is(frames.length, 2);
});

test('many frames in one chunk', () => {
  const wire = Buffer.concat(Array.from({ length: 100 }, (_, i) => encodeControl({ i })));
  const frames = new FrameDecoder(1024).push(wire);
  assert.is(frames.length, 100);
  assert.equal(decodeControlPayload(frames[99].payload), { i: 99 });
});

test('an oversize frame is refused from its header, before its body arrives', () => {
  const decoder = new FrameDecoder(100);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(101, 0);
  header[4] = FrameKind.control;
  assert.is(thrownCode(() => decoder.push(header)), 'E_FRAME_TOO_LARGE');
  assert.is(decoder.bufferedBytes, 0);
  assert.is(thrownCode(() => decoder.push(Buffer.from([1]))), 'E_PROTOCOL');
});

test('a frame exactly at the limit is accepted', () => {
  const payload = Buffer.alloc(99, 1);
  const frames = new FrameDecoder(100).push(encodeFrame(FrameKind.data, payload));
  assert.is(frames[0].payload.length, 99);
});

test('zero length and unknown kinds are protocol errors', () => {
  assert.is(thrownCode(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 0, 1]))), 'E_PROTOCOL');
  assert.is(thrownCode(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 1, 9]))), 'E_PROTOCOL');
});

test('garbage bytes are refused', () => {
  assert.ok(thrownCode(() => new FrameDecoder(64 * 1024).push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))));
});

test('control payloads must be JSON objects', () => {
  assert.is(thrownCode(() => decodeControlPayload(Buffer.from('not json'))), 'E_PROTOCOL');
  assert.is(thrownCode(() => decodeControlPayload(Buffer.from('[1,2]'))), 'E_PROTOCOL');
  assert.is(thrownCode(() => decodeControlPayload(Buffer.from('null'))), 'E_PROTOCOL');
  assert.is(thrownCode(() => decodeControlPayload(Buffer.from('"s"'))), 'E_PROTOCOL');
  assert.is(thrownCode(() => decodeControlPayload(Buffer.from([0xff, 0xfe]))), 'E_PROTOCOL');
});

test('empty chunks are harmless', () => {
  assert.equal(new FrameDecoder(10).push(Buffer.alloc(0)), []);
});

test.run();
