/**
 * A child process for the key pins crash test (test/integration/tui/core/key-pins.test.ts):
 * pins `batch` new users per event-loop turn, `batches` times, in the folder given, and prints
 * `durable N` on stdout each time a batch's write has resolved (N pins in all). The test kills
 * it with SIGKILL while a write is under way.
 *
 *   node pins-child.js DIR BATCH BATCHES
 */
import { generateIdentity, publicBundle } from '../../shared/crypto/identity.js';
import { KeyPins } from '../../tui/core/key-pins.js';

const [dir, batchText, batchesText] = process.argv.slice(2);
const batch = Number(batchText);
const batches = Number(batchesText);
const pins = await KeyPins.open(dir);
const identity = await generateIdentity();
let total = 0;
for (let b = 0; b < batches; b++) {
  // One identity signs every user's bundle: verification checks the signature over the name, not who made it.
  const people = await Promise.all(Array.from({ length: batch }, async (_, i) => {
    const name = `u${b}x${i}`;
    return { name, bundle: await publicBundle(identity, name) };
  }));
  await Promise.all(people.map((p) => pins.observe(p.name, p.bundle)));
  total += batch;
  process.stdout.write(`durable ${total} writes ${pins.writes}\n`);
}
