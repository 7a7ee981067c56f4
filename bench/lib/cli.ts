/** The command line of `npm run bench`, parsed (pure; tested in test/unit/bench/stats.test.ts). */
import { resolve } from 'node:path';
import type { BenchOptions } from './context.js';

export interface Cli extends BenchOptions {
  scenarios: string[];
  help: boolean;
}

/** Throws an Error with a message for people on anything it does not understand. */
export function parseArgs(argv: readonly string[], known: readonly string[]): Cli {
  const cli: Cli = { quick: false, loadThreads: 1, relayNodeArgs: [], scenarios: [], help: false, caseFilter: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') cli.quick = true;
    else if (arg === '--help' || arg === '-h') cli.help = true;
    else if (arg === '--scenario' || arg === '-s') cli.scenarios.push(...value().split(',').filter(Boolean));
    else if (arg === '--case') cli.caseFilter = value();
    else if (arg === '--load-threads') {
      const threads = Number(value());
      if (!Number.isInteger(threads) || threads < 1 || threads > 16) throw new Error('--load-threads takes a whole number from 1 to 16');
      cli.loadThreads = threads;
    } else if (arg === '--profile-relay') cli.relayNodeArgs = ['--cpu-prof', `--cpu-prof-dir=${resolve(value())}`];
    else throw new Error(`unknown option ${arg} (try --help)`);
  }
  for (const name of cli.scenarios) if (!known.includes(name)) throw new Error(`unknown scenario ${name}; one of ${known.join(', ')}`);
  return cli;
}
