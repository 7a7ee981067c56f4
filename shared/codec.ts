import { ChatError } from './errors.js';

/**
 * Wire framing, pure (no sockets):
 *
 *   +----------------------+-----------+------------------------+
 *   | length: u32 BE       | kind: u8  | payload (length-1 B)   |
 *   +----------------------+-----------+------------------------+
 *
 * `length` counts the kind byte and the payload. A control frame carries one UTF-8 JSON
 * object; a data frame carries raw bytes (file chunks, relay pipe traffic).
 */
export const FRAME_HEADER_BYTES = 5;

/**
 * The request line of a raw relay pipe (`SCPIPE/1 <ticket>\n`, relay/raw-pipe-front.ts), sent
 * on a plain TCP connection to the relay's port instead of a TLS ClientHello: its first byte,
 * 'S', can never start a TLS record (0x14-0x18), which is how the relay tells the two apart.
 */
export const RAW_PIPE_PREFIX = 'SCPIPE/1 ';

export const FrameKind = {
  control: 1,
  data: 2,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  kind: FrameKind;
  payload: Buffer;
}

export function encodeFrame(kind: FrameKind, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length + 1, 0);
  frame[4] = kind;
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Encodes a control message; the result can be written to many sockets (encode a broadcast once). */
export function encodeControl(message: object): Buffer {
  const json = JSON.stringify(message);
  const bodyBytes = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32BE(bodyBytes + 1, 0);
  frame[4] = FrameKind.control;
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

/** Parses a control frame's payload into a plain JSON object; anything else is E_PROTOCOL. */
export function decodeControlPayload(payload: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ChatError('E_PROTOCOL', 'control frame is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ChatError('E_PROTOCOL', 'control frame is not a JSON object');
  }
  return value;
}

/**
 * Streaming decoder: feed it chunks as they arrive, get whole frames back.
 * A frame over `maxFrameBytes` is refused as soon as its header is read, before any of it is
 * buffered. After an error the decoder is unusable (the connection should be closed).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Takes a chunk and returns every whole frame it completes. */
  push(chunk: Buffer): Frame[] {
    this.append(chunk);
    const frames: Frame[] = [];
    for (let frame = this.next(); frame !== null; frame = this.next()) frames.push(frame);
    return frames;
  }

  /**
   * Takes a chunk without reading frames from it yet: with `next` a reader takes frames one at
   * a time and stops where the stream stops being frames (a side link once it is ready).
   */
  append(chunk: Buffer): void {
    if (this.failed) throw new ChatError('E_PROTOCOL', 'decoder used after an error');
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, or null while more bytes are needed. Never reads past that frame. */
  next(): Frame | null {
    if (this.failed) throw new ChatError('E_PROTOCOL', 'decoder used after an error');
    if (this.buffered < FRAME_HEADER_BYTES) return null;
    const head = this.peek(FRAME_HEADER_BYTES);
    const length = head.readUInt32BE(0);
    if (length < 1) return this.fail('E_PROTOCOL', 'frame length 0');
    if (length > this.maxFrameBytes) {
      return this.fail('E_FRAME_TOO_LARGE', `frame of ${length} bytes is over the ${this.maxFrameBytes}-byte limit`);
    }
    const kind = head[4];
    if (kind !== FrameKind.control && kind !== FrameKind.data) {
      return this.fail('E_PROTOCOL', `unknown frame kind ${kind}`);
    }
    if (this.buffered < 4 + length) return null;
    const whole = this.take(4 + length);
    return { kind, payload: whole.subarray(FRAME_HEADER_BYTES) };
  }

  /** Hands over the bytes after the last frame taken (they are not frames: raw bytes of a side link) and forgets them. */
  rest(): Buffer {
    const rest = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return rest ?? Buffer.alloc(0);
  }

  private fail(code: 'E_PROTOCOL' | 'E_FRAME_TOO_LARGE', message: string): never {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    throw new ChatError(code, message);
  }

  /** The first `n` buffered bytes without consuming them (copies only when they span chunks). */
  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.chunks[0];
      const want = n - copied;
      if (chunk.length <= want) {
        chunk.copy(out, copied);
        copied += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, copied, 0, want);
        this.chunks[0] = chunk.subarray(want);
        copied += want;
      }
    }
    return out;
  }
}
