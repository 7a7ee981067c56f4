/**
 * securechat's headless client core, for bots, benchmarks and the TUI:
 *
 *   import { ChatClient } from 'securechat';
 *   const client = new ChatClient({ server: 'chat.example.org:7443', user: 'bot', password });
 *   client.on('message', (m) => { if (m.text === '!ping') void client.say('pong'); });
 *   await client.connect();
 */
export { ChatClient } from './client.js';
export type { AckInfo, ChatClientOptions, ClientState, PasswordSource, RoomState } from './client.js';
export { CHAT_EVENT_TYPES, EVENT_DOCS } from './events.js';
export type { ChatEvent, ChatEventOf, ChatEventType, ChatMessage, RoomInfo } from './events.js';
export { CommandRegistry, commands, createCommandRegistry, parseCommandLine } from './commands.js';
export type { Command, CommandClient, ParsedLine } from './commands.js';
export { dispatchLine } from './dispatch.js';
export type { JobWatcher, LineClient, LineFrontEnd, LineOutcome } from './dispatch.js';
export { KnownRelays, fingerprintOfDer, normalizeFingerprint, parseKnownRelays, verifyRelay } from './trust.js';
export type { TrustBasis, TrustDecision, TrustOptions } from './trust.js';
export { dialRelay, ChatConnection } from './connection.js';
export { PROXY_ENV, formatProxy, parseProxyUrl } from './proxy.js';
export type { ProxySettings } from './proxy.js';
export { DEFAULT_BACKOFF, backoffDelayMs, retryDelayMs } from './backoff.js';
export type { BackoffPolicy } from './backoff.js';
export { DEFAULT_PORT, DEFAULT_SERVER, formatServerAddress, parseServerAddress } from './address.js';
export type { ServerAddress } from './address.js';
export { configDir, dataDir, knownRelaysFile, userDataDir } from './paths.js';
export { WhisperCrypto } from './whispers.js';
export type { IncomingWhisper, SealedWhisper, WhisperCryptoOptions } from './whispers.js';
export { SeqWindow } from './seen.js';
export { TransferManager, defaultDownloadDir } from './transfer/manager.js';
export type { ClientTransferOptions, TransferDirection, TransferHost, TransferInfo } from './transfer/manager.js';
export { ChatError, ERROR_CODES } from '../../shared/errors.js';
export type { ErrorCode } from '../../shared/errors.js';
