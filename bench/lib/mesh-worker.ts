/**
 * Worker-thread host of a MeshGroup (mesh-load.ts), as load-worker.ts is of a room load group:
 * connect → null, run → MeshResult, close → null, after which the thread exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MeshGroup, type MeshSpec } from './mesh-load.js';

export type MeshCommand = { cmd: 'connect' } | { cmd: 'run'; startUs: number } | { cmd: 'close' };

const port = parentPort;
if (port === null) throw new Error('mesh-worker.js runs only as a worker thread');
const group = new MeshGroup(workerData as MeshSpec);

port.on('message', (command: MeshCommand) => {
  const answer = async (): Promise<unknown> => {
    switch (command.cmd) {
      case 'connect':
        await group.connect();
        return null;
      case 'run':
        return group.run(command.startUs);
      case 'close':
        await group.close();
        return null;
    }
  };
  answer().then(
    (value) => {
      port.postMessage({ ok: true, value });
      if (command.cmd === 'close') port.close();
    },
    (error: unknown) => port.postMessage({ ok: false, error: (error as Error)?.stack ?? String(error) }),
  );
});
