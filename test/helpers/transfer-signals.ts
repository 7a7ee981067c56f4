import type { TransferPeerMessage } from '../../tui/core/transfer/wire.js';
import type { ChatClient } from '../../tui/core/client.js';
import type { TransferHost } from '../../tui/core/transfer/manager.js';

/**
 * Records every transfer signal `client` hands to the relay (the sealed end-to-end messages,
 * before sealing), e.g. to check that a proxied client offers no direct candidates. Reads the
 * client's transfer host, which has no public hook for this.
 */
export function recordSignals(client: ChatClient): TransferPeerMessage[] {
  const host = (client.transfers as unknown as { host: TransferHost }).host;
  const sent: TransferPeerMessage[] = [];
  const original = host.sendSignal.bind(host);
  host.sendSignal = (to, message) => {
    sent.push(message);
    return original(to, message);
  };
  return sent;
}
