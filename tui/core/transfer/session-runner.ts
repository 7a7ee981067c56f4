import type { PathKind } from './candidates.js';
import type { TransferConstants } from './constants.js';
import type { FileSink } from './file-sink.js';
import { hashFile } from './file-sink.js';
import { FILE_HASH_ALGORITHM } from './file-hash.js';
import type { FramedChannel } from './framed-channel.js';
import { type SenderFile, type SessionResult, runReceiverSession, runSenderSession } from './sessions.js';
import type { TransferInput, TransferRole } from './state-machine.js';
import type { AbortCode } from './wire.js';

/**
 * Runs the session on the connection the state machine picked (sessions.ts does the bytes),
 * one at a time, and turns how it ended into the machine's input: complete, path lost, hash
 * mismatch, file changed, the peer's abort or a failure. Also the quick way to tell the peer
 * we stop: `abort` on the data connection itself.
 */
export interface SessionRunnerHost {
  readonly transferId: string;
  readonly role: TransferRole;
  readonly constants: TransferConstants;
  input(input: TransferInput): void;
  /** Sender: the file offered. */
  senderFile(): SenderFile;
  /** Receiver: where the bytes go, and what they must hash to; `finalize` moves the checked file into place. */
  receiver(): { sink: FileSink; partPath: string; size: number; expectedHash: string; finalize: () => Promise<void>; finalized: () => boolean };
  /** The whole file's hash (file-hash.ts): sender, hashed while sending; receiver, checked against the file on disk. */
  hashKnown(hash: string): void;
  /** Bytes acknowledged (sender) or on disk (receiver). */
  onBytes(bytes: number): void;
  log(line: string): void;
}

export class SessionRunner {
  private session: { connectionId: string; abort: AbortController } | null = null;

  constructor(private readonly host: SessionRunnerHost) {}

  /** The connection the current session runs on. */
  get connectionId(): string | undefined {
    return this.session?.connectionId;
  }

  /**
   * Starts a session on `connectionId`'s `channel` from byte `offset` (the sender says `go`
   * with its name for the path first), stopping the one before.
   */
  start(connectionId: string, channel: FramedChannel, offset: number, pathKind: PathKind): void {
    const host = this.host;
    this.session?.abort.abort();
    const abort = new AbortController();
    this.session = { connectionId, abort };
    let result: Promise<SessionResult>;
    if (host.role === 'sender') {
      channel.send({ t: 'go', transferId: host.transferId, path: pathKind });
      result = runSenderSession({
        channel,
        file: host.senderFile(),
        constants: host.constants,
        onAcked: (bytes) => host.onBytes(bytes),
        signal: abort.signal,
        rehash: (file) => hashFile(file.path, FILE_HASH_ALGORITHM, { end: file.size }),
        onHashed: (hash) => host.hashKnown(hash),
      });
    } else {
      const receiver = host.receiver();
      result = runReceiverSession({
        channel,
        sink: receiver.sink,
        partPath: receiver.partPath,
        size: receiver.size,
        expectedHash: receiver.expectedHash,
        constants: host.constants,
        onWritten: (bytes) => host.onBytes(bytes),
        finalize: receiver.finalize,
        onVerified: (hash) => host.hashKnown(hash),
        signal: abort.signal,
      });
    }
    void result.then((outcome) => this.ended(connectionId, outcome));
  }

  /** Stops the current session (a new one, or the end). */
  stop(): void {
    this.session?.abort.abort();
    this.session = null;
  }

  /**
   * The data connection is the fastest way to tell the peer we stop: send `abort`, flush,
   * close (the caller has taken the connection out of its table, so that releasing does not
   * cut the flush short); it is destroyed after a grace period in case the peer never reads.
   * False when there is no open channel.
   */
  abortOn(channel: FramedChannel | null | undefined, code: AbortCode): boolean {
    if (channel === null || channel === undefined || channel.isClosed) return false;
    this.session?.abort.abort();
    channel.setHandlers(null);
    channel.send({ t: 'abort', code });
    channel.end();
    setTimeout(() => channel.destroy(), 2_000).unref();
    return true;
  }

  private ended(connectionId: string, outcome: SessionResult): void {
    const host = this.host;
    if (this.session?.connectionId === connectionId) this.session = null;
    host.log(`session on ${connectionId} ended: ${outcome.kind}${outcome.kind === 'failed' ? ` ${outcome.code}` : ''}`);
    switch (outcome.kind) {
      case 'complete':
        host.input({ type: 'complete' });
        return;
      case 'lost':
        // The receiver may have finished (renamed) just as the connection broke.
        if (host.role === 'receiver' && host.receiver().finalized()) host.input({ type: 'complete' });
        else host.input({ type: 'path-lost', connectionId });
        return;
      case 'failed':
        if (outcome.code === 'E_HASH_MISMATCH') host.input({ type: 'hash-mismatch' });
        else if (outcome.code === 'E_FILE_CHANGED') host.input({ type: 'file-changed' });
        else if (outcome.fromPeer) host.input({ type: 'cancel', by: 'peer', code: outcome.code as never });
        else host.input({ type: 'fail', code: outcome.code, message: outcome.message });
        return;
    }
  }
}
