/**
 * Relay pipes and room files, as the chat sees them: tickets asked for on the chat connection,
 * then a fresh side connection that redeems its ticket and carries raw bytes from then on
 * (the pipe joined to its partner, a file's bytes in or out). The bytes themselves are the
 * business of PipeBroker (pipe-broker.ts) and RoomFiles (room-files.ts).
 */
import type { Duplex } from 'node:stream';
import { ChatError } from '../shared/errors.js';
import type { ClientMessageOf } from '../shared/messages.js';
import { nameKey, validateUserName } from '../shared/names.js';
import type { RelayConnection } from './connection.js';
import type { PipeBroker } from './pipe-broker.js';
import { type RawPipeRequest, rawPipeErrorCode, refuseRawPipe } from './raw-pipe-front.js';
import type { RoomFiles } from './room-files.js';
import type { Room } from './rooms.js';

export type SideRequest = ClientMessageOf<'pipe-ticket' | 'pipe' | 'file-upload' | 'files' | 'file-download' | 'file-put' | 'file-get'>;

/** What the chat host answers for side requests: where a connection is, and who is online. */
export interface SideRequestContext {
  /** The requester's room; throws when they are not logged in. */
  currentRoom(connection: RelayConnection): Room;
  /** A user online here or on another relay; throws E_NOT_IN_ROOM / E_NO_SUCH_USER otherwise. */
  onlineUser(name: string): Promise<{ userName: string; userKey: string }>;
}

export class SideRequests {
  constructor(
    private readonly pipes: PipeBroker,
    readonly files: RoomFiles,
    private readonly context: SideRequestContext,
  ) {}

  handle(connection: RelayConnection, message: SideRequest): Promise<void> {
    switch (message.t) {
      case 'pipe-ticket':
        return this.pipeTicket(connection, message);
      case 'pipe':
        return this.joinPipe(connection, message);
      case 'file-upload':
      case 'files':
      case 'file-download':
        return this.roomFileRequest(connection, message);
      case 'file-put':
      case 'file-get':
        return this.roomFileTransfer(connection, message);
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  /** A relay link from another relay for the pipe side waiting here under `sideKey` (see PipeBroker.acceptLink). */
  acceptRelayLink(sideKey: string, fromRelay: string): ((link: Duplex) => void) | undefined {
    return this.pipes.acceptLink(sideKey, fromRelay);
  }

  /** Ends every pipe and room-file transfer (shutdown). */
  close(): void {
    this.pipes.closeAll();
    this.files.close();
  }

  // ---- relay pipes (file transfer fallback)

  private async pipeTicket(connection: RelayConnection, message: ClientMessageOf<'pipe-ticket'>): Promise<void> {
    const peerName = validateUserName(message.peer);
    if (nameKey(peerName) === connection.userKey) throw new ChatError('E_SELF', 'a pipe needs another user');
    const peer = await this.context.onlineUser(peerName);
    const { ticket, expiresInMs } = await this.pipes.issue({
      userName: connection.userName,
      userKey: connection.userKey,
      peerName: peer.userName,
      peerKey: peer.userKey,
      transfer: message.transfer,
    });
    connection.send({ t: 'pipe-ticket', re: message.id, ticket, expiresInMs });
  }

  /** A fresh connection joins a pipe with its ticket; after `pipe-ready` it carries raw bytes. */
  private async joinPipe(connection: RelayConnection, message: ClientMessageOf<'pipe'>): Promise<void> {
    connection.advance('auth-start');
    try {
      const ticket = await this.pipes.redeem(message.ticket);
      await this.pipes.rendezvous({
        ticket,
        alive: () => !connection.isClosed,
        handOver: () => {
          connection.send({ t: 'pipe-ready', re: message.id });
          return connection.detach();
        },
      });
    } catch (error) {
      if (!connection.isClosed) connection.advance('auth-failed');
      throw error;
    }
  }

  /**
   * A raw pipe (raw-pipe-front.ts): a plain TCP connection that redeems its ticket and, once
   * the partner is there, carries the peers' own TLS bytes with no TLS layer of the relay's.
   * Answers `ready` or `error CODE`. The client sends nothing after its line until `ready`
   * (its TLS starts then), so any early byte is a protocol error; reading while it waits is
   * also how a client that leaves is noticed.
   */
  async joinRawPipe(request: RawPipeRequest): Promise<void> {
    const { socket } = request;
    const early = (): void => refuseRawPipe(socket, 'E_PROTOCOL');
    if (request.rest.length > 0) return early();
    socket.on('data', early);
    socket.resume();
    try {
      const ticket = await this.pipes.redeem(request.ticket);
      await this.pipes.rendezvous({
        ticket,
        alive: () => !socket.destroyed,
        handOver: () => {
          socket.off('data', early);
          socket.pause();
          socket.setNoDelay(true);
          socket.write('ready\n');
          return socket;
        },
      });
    } catch (error) {
      socket.off('data', early);
      refuseRawPipe(socket, rawPipeErrorCode(error));
    }
  }

  // ---- room files (stored on the relay; bytes on side connections)

  private async roomFileRequest(connection: RelayConnection, message: ClientMessageOf<'file-upload' | 'files' | 'file-download'>): Promise<void> {
    const room = this.context.currentRoom(connection);
    const who = { userName: connection.userName, userKey: connection.userKey, roomName: room.name, roomKey: room.key };
    if (message.t === 'files') {
      connection.send({ t: 'files', re: message.id, room: room.name, files: await this.files.list(room.key) });
      return;
    }
    const { ticket, fileId } = message.t === 'file-upload' ? await this.files.requestUpload(who, message) : await this.files.requestDownload(who, message.fileId);
    connection.send({ t: 'file-ticket', re: message.id, ticket, fileId });
  }

  /** A fresh connection redeems a file ticket; after `file-ready` it carries the file's raw bytes. */
  private async roomFileTransfer(connection: RelayConnection, message: ClientMessageOf<'file-put' | 'file-get'>): Promise<void> {
    connection.advance('auth-start');
    try {
      if (message.t === 'file-put') {
        const ticket = await this.files.redeem(message.ticket, 'put');
        connection.send({ t: 'file-ready', re: message.id });
        void this.files.receive(connection.detach(), ticket, message.id);
      } else {
        const ticket = await this.files.redeem(message.ticket, 'get');
        // Checked before detaching, so a vanished file is an ordinary error frame.
        const file = await this.files.prepareDownload(ticket);
        if (connection.isClosed) return;
        void this.files.send(connection.detach(), file, message.id);
      }
    } catch (error) {
      if (!connection.isClosed) connection.advance('auth-failed');
      throw error;
    }
  }
}
