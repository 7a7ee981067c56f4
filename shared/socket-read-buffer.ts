import net from 'node:net';

/**
 * A socket's bytes into one reused buffer instead of a new Buffer per read (the peers' TLS in
 * a transfer, tui/core/transfer/framed-channel.ts; the raw relay pipe, relay/pipe-broker.ts).
 *
 * Node hands every TLS record (16 KiB at most) to JS in a freshly allocated ArrayBuffer. At a
 * few hundred MB/s that is tens of thousands of external allocations per second, which V8
 * only frees when its external-memory trigger fires (about 64 MB later): the receiver of a
 * transfer peaked near 150 MB of RSS and spent a good part of its main thread allocating and
 * collecting. `net.Socket`'s documented `onread` option (one buffer, a callback with the byte
 * count) avoids this, but `tls.connect` honours it only when it dials the TCP connection
 * itself, and a data connection's TLS always runs over a socket we already have (dialled,
 * accepted or a relay pipe). So this installs the same mechanism on the TLS socket's handle:
 * the `useUserBuffer` every stream handle (TLSWrap included) has, plus the two fields
 * `onread` would have set, found on a socket made with `onread` so no private name is
 * spelled out here. If this Node has neither, nothing changes (returns false) and the
 * caller keeps its 'data' listener: slower, same bytes.
 */
type OnRead = (bytes: number, buffer: Buffer) => boolean | void;

let fields: { buffer: symbol; callback: symbol } | null | undefined;

function onreadFields(): { buffer: symbol; callback: symbol } | null {
  if (fields !== undefined) return fields;
  const buffer = Buffer.alloc(1);
  const callback = (): boolean => true;
  // `onread` is a documented net.Socket option (typed only on connect options in @types/node).
  const probe = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts);
  const own = probe as unknown as Record<symbol, unknown>;
  const symbols = Object.getOwnPropertySymbols(probe);
  const bufferField = symbols.find((symbol) => own[symbol] === buffer);
  const callbackField = symbols.find((symbol) => own[symbol] === callback);
  probe.destroy();
  fields = bufferField !== undefined && callbackField !== undefined ? { buffer: bufferField, callback: callbackField } : null;
  return fields;
}

/**
 * From now on, `socket`'s bytes (decrypted, for a TLS socket) go to `onRead(count, buffer)` (valid during the call
 * only) instead of 'data' events; bytes it already holds are given to `onRead` first, in a copy.
 * 'end', 'close', `pause()` and `resume()` work as before. False when this Node cannot (the
 * socket is untouched then).
 */
export function readIntoBuffer(socket: net.Socket, buffer: Buffer, onRead: OnRead): boolean {
  const found = onreadFields();
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle;
  if (found === null || typeof handle?.useUserBuffer !== 'function') return false;
  const own = socket as unknown as Record<symbol, unknown>;
  own[found.buffer] = buffer;
  own[found.callback] = onRead;
  handle.useUserBuffer(buffer);
  // Whatever arrived before (it sits in the stream's buffer) comes first.
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) onRead(chunk.length, chunk);
  return true;
}
