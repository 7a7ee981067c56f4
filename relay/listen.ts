import type { AddressInfo, Server } from 'node:net';

/**
 * Starts `server` listening on `host:port` (0: any free port) and resolves with the address it
 * got; rejects with the listen error (port taken, address unavailable) instead of leaving it to
 * an 'error' event. Later errors are the caller's to listen for.
 */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
