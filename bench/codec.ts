/**
 * codec: the cost of the wire format itself, for docs/protocol.md. A typical room message as
 * the relay delivers it and a typical `say` as a client sends it, through each step a frame
 * takes: encode (JSON.stringify + 5-byte header), frame decode, JSON.parse, and the zod schema
 * check each side runs on what it receives. Measured in this process, no sockets.
 *
 * For reference only, node:v8's built-in binary serializer on the same object: it is not a
 * candidate wire format (its encoding belongs to the V8 version), but it shows what a
 * binary encoding of the same object costs in this runtime without installing anything.
 */
import { serialize as v8Serialize, deserialize as v8Deserialize } from 'node:v8';
import { FrameDecoder, decodeControlPayload, encodeControl } from '../shared/codec.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { RelayMessage, parseClientMessage, parseRelayMessage } from '../shared/messages.js';
import type { BenchContext, Scenario } from './lib/context.js';
import { makeText } from './lib/payload.js';
import type { Figure, ScenarioReport } from './lib/report.js';
import { median } from './lib/stats.js';

/** A room message as the relay sends it to every member (64-byte text, like the fan-out load). */
export const TYPICAL_MESSAGE = {
  t: 'message',
  room: 'global',
  seq: 123456,
  from: 'alice',
  text: makeText({ sender: 17, index: 42, sentUs: 1234567890123 }),
  time: 1_732_000_000_000,
  id: 'mAbCdEfGh12',
} as const;

/** A `say` request as a client sends it. */
export const TYPICAL_SAY = { t: 'say', id: 'mAbCdEfGh12', text: TYPICAL_MESSAGE.text } as const;

/** Nanoseconds per call of `fn`: the median of `rounds` timed batches after a warm-up. */
export function nanosPerOp(fn: () => unknown, iterations: number, rounds = 5): number {
  let sink: unknown;
  for (let i = 0; i < Math.min(iterations, 20_000); i++) sink = fn();
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink = fn();
    perRound.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  if (sink === Symbol.for('never')) console.log(sink); // keeps the calls from being optimised away
  return median(perRound);
}

export async function measureCodec(ctx: Pick<BenchContext, 'quick'>): Promise<ScenarioReport> {
  const iterations = ctx.quick ? 2_000 : 200_000;
  const frame = encodeControl(TYPICAL_MESSAGE);
  const sayFrame = encodeControl(TYPICAL_SAY);
  const payload = frame.subarray(5);
  const parsedMessage = JSON.parse(payload.toString('utf8')) as unknown;
  const parsedSay = JSON.parse(sayFrame.subarray(5).toString('utf8')) as unknown;
  const decoder = new FrameDecoder(DEFAULT_LIMITS.maxFrameBytes);
  const v8Bytes = v8Serialize(TYPICAL_MESSAGE);

  const encodeNs = nanosPerOp(() => encodeControl(TYPICAL_MESSAGE), iterations);
  const frameDecodeNs = nanosPerOp(() => decoder.push(frame), iterations);
  const jsonParseNs = nanosPerOp(() => decodeControlPayload(payload), iterations);
  const zodRelayNs = nanosPerOp(() => RelayMessage.safeParse(parsedMessage), iterations);
  const checkRelayNs = nanosPerOp(() => parseRelayMessage(parsedMessage), iterations);
  const zodClientNs = nanosPerOp(() => parseClientMessage(parsedSay), iterations);
  const fullReceiveNs = nanosPerOp(() => {
    for (const f of decoder.push(frame)) parseRelayMessage(decodeControlPayload(f.payload));
  }, iterations);
  const relayIngestNs = nanosPerOp(() => {
    for (const f of decoder.push(sayFrame)) parseClientMessage(decodeControlPayload(f.payload));
  }, iterations);
  const v8EncodeNs = nanosPerOp(() => v8Serialize(TYPICAL_MESSAGE), iterations);
  const v8DecodeNs = nanosPerOp(() => v8Deserialize(v8Bytes), iterations);

  const figures: Figure[] = [
    { key: 'messageFrameBytes', label: 'room message frame size', unit: 'B', value: frame.length },
    { key: 'sayFrameBytes', label: 'say frame size', unit: 'B', value: sayFrame.length },
    { key: 'encodeNs', label: 'encode message (JSON + header)', unit: 'ns', value: encodeNs },
    { key: 'frameDecodeNs', label: 'frame decode (header, no copy)', unit: 'ns', value: frameDecodeNs },
    { key: 'jsonParseNs', label: 'JSON.parse payload', unit: 'ns', value: jsonParseNs },
    { key: 'zodRelayMessageNs', label: 'zod check of a message', unit: 'ns', value: zodRelayNs },
    { key: 'checkRelayMessageNs', label: 'client check of a message (hand-checked fast path)', unit: 'ns', value: checkRelayNs },
    { key: 'zodSayNs', label: 'zod check of a say (relay side)', unit: 'ns', value: zodClientNs },
    { key: 'clientReceiveNs', label: 'client receive: decode+parse+check', unit: 'ns', value: fullReceiveNs },
    { key: 'relayIngestNs', label: 'relay ingest of a say: decode+parse+check', unit: 'ns', value: relayIngestNs },
    { key: 'v8SerializeBytes', label: 'reference: v8.serialize size', unit: 'B', value: v8Bytes.length },
    { key: 'v8SerializeNs', label: 'reference: v8.serialize', unit: 'ns', value: v8EncodeNs },
    { key: 'v8DeserializeNs', label: 'reference: v8.deserialize', unit: 'ns', value: v8DecodeNs },
  ];
  return {
    bench: 'codec',
    case: `typical room message (${TYPICAL_MESSAGE.text.length}-byte text), ${iterations.toLocaleString('en-US')} ops × 5 rounds, median`,
    figures,
    notes: [
      'per message the relay pays one ingest (say) and one encode, whatever the room size; each delivery then costs a TLS write (see fanout: CPU per delivery).',
      'msgpackr is not installed (not added on purpose); v8.serialize is shown only as a built-in binary reference, not a wire-format candidate.',
    ],
  };
}

export const codec: Scenario = {
  name: 'codec',
  describe: 'encode/decode cost of a typical frame (JSON payloads), for docs/protocol.md',
  async run(ctx) {
    return [await measureCodec(ctx)];
  },
};
