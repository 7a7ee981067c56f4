/**
 * Worker-thread host of a RoomLoadGroup (see room-load.ts). Commands arrive as messages from
 * load-pool.ts and each gets one answer: connect → ConnectResult, run → RunResult (sample
 * arrays transferred, not copied), close → done, after which the thread exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThisThreadPriority } from '../../relay/thread-priority.js';
import { RoomLoadGroup, type GroupSpec, type RunPlan } from './room-load.js';

export type WorkerCommand = { cmd: 'connect' } | { cmd: 'run'; plan: RunPlan } | { cmd: 'close' };

const port = parentPort;
if (port === null) throw new Error('load-worker.js runs only as a worker thread');
const spec = workerData as GroupSpec;
if (spec.threadNice !== undefined) lowerThisThreadPriority(spec.threadNice);
const group = new RoomLoadGroup(spec);

port.on('message', (command: WorkerCommand) => {
  const answer = async (): Promise<void> => {
    switch (command.cmd) {
      case 'connect':
        port.postMessage({ ok: true, value: await group.connect() });
        return;
      case 'run': {
        const result = await group.run(command.plan);
        port.postMessage({ ok: true, value: result }, [result.latencyUs.buffer, result.sentAtUs.buffer, result.lagUs.buffer] as ArrayBuffer[]);
        return;
      }
      case 'close':
        await group.close();
        port.postMessage({ ok: true, value: null });
        port.close();
        return;
    }
  };
  answer().catch((error: unknown) => port.postMessage({ ok: false, error: (error as Error)?.stack ?? String(error) }));
});
