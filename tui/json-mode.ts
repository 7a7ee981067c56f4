import readline from 'node:readline';
import { ChatClient, type ChatClientOptions } from './core/client.js';
import { dispatchLine, type LineFrontEnd } from './core/dispatch.js';
import { errorEvent, type ChatEvent } from './core/events.js';

/**
 * `securechat --json`: lines in (slash commands, or text for the current room), one JSON
 * object per line out for every client event (core/events.ts), for bots and scripts.
 *
 * File transfers: /send, /accept... print transfer-* events. At /exit or the end of the input
 * the mode first waits until every running transfer has ended (an offer you sent waits for
 * its answer; offers you received and did not accept do not hold it up). SIGINT or SIGTERM
 * stops at once and keeps accepted transfers in the journal: the next start from the same data
 * folder resumes them.
 *
 * Exit status: 0 after /exit or the end of the input once every room message sent was
 * stored by the relay; 1 when it cannot connect or log in, loses the relay for good, or a
 * room message was refused; 130 when interrupted. Failed commands print an error line and
 * do not change the status.
 */
export interface JsonModeOptions {
  client: ChatClientOptions;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Aborting closes the client at once (SIGINT). */
  signal?: AbortSignal;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export { errorEvent };

export async function runJsonMode(options: JsonModeOptions): Promise<number> {
  const { output } = options;
  const print = (event: ChatEvent) => output.write(JSON.stringify(event) + '\n');

  let client: ChatClient;
  try {
    client = new ChatClient(options.client);
  } catch (error) {
    print(errorEvent(error));
    return EXIT_USAGE;
  }
  client.on('*', print);

  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    lines.close();
    void client.close({ suspendTransfers: true });
  };
  const lines = readline.createInterface({ input: options.input, crlfDelay: Infinity, terminal: false });
  // Take the iterator now: readline drops lines that arrive before iteration starts, and
  // input may arrive (or even end) while we are still connecting.
  const input = lines[Symbol.asyncIterator]();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await client.connect();
    } catch (error) {
      if (!interrupted) print(errorEvent(error));
      await client.close();
      return interrupted ? EXIT_INTERRUPTED : EXIT_FAILED;
    }

    // Stop reading when the client is gone for good (fatal error, or reconnects given up).
    let lostForGood = false;
    client.on('disconnected', (event) => {
      if (!event.willReconnect && client.state === 'closed') {
        lostForGood = true;
        lines.close();
      }
    });

    let messageFailed = false;
    const sending = new Set<Promise<void>>();
    const frontEnd: LineFrontEnd = {
      client,
      refused: (error, name) => print(errorEvent(error, name)),
      failed: (error, name) => print(errorEvent(error, name)),
      say: (text) => {
        // Not awaited: messages are pipelined; the relay keeps their order.
        const sent: Promise<void> = client.say(text).then(
          () => {
            sending.delete(sent);
          },
          (error) => {
            sending.delete(sent);
            messageFailed = true;
            print(errorEvent(error, 'say'));
          },
        );
        sending.add(sent);
      },
      // /exit: stop reading; what follows the loop waits for transfers and leaves.
      ends: () => {},
    };
    for (let next = await input.next(); !next.done; next = await input.next()) {
      // Commands are awaited, so that text after `/join room` goes to that room.
      const outcome = await dispatchLine(next.value, frontEnd);
      if (outcome === 'ends') break;
      if ((outcome === 'done' || outcome === 'failed') && client.state === 'closed') break;
    }
    lines.close();

    if (interrupted) return EXIT_INTERRUPTED;
    await Promise.all([...sending]);
    // A script that says `/send bob file` and ends its input means "send it", not "cancel it".
    if (client.state !== 'closed') {
      await Promise.race([client.transfers.whenIdle(), client.whenShutDown()]);
      if (interrupted) return EXIT_INTERRUPTED;
    }
    if (lostForGood || client.state === 'closed') return EXIT_FAILED;
    try {
      await client.exit();
    } catch (error) {
      print(errorEvent(error, 'exit'));
      return EXIT_FAILED;
    }
    return messageFailed ? EXIT_FAILED : EXIT_OK;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    lines.close();
    await client.close();
  }
}
