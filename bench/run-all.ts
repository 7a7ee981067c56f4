/**
 * `npm run bench`: every scenario, or those named with --scenario, each printing a table and
 * one JSON line on stdout (progress goes to stderr).
 *
 *   npm run bench                          everything (a few minutes)
 *   npm run bench -- --quick               a smoke run: tiny sizes, scenarios side by side, figures meaningless
 *   npm run bench -- --scenario fanout     one scenario (repeatable, or comma-separated)
 *   npm run bench -- --scenario whisper-mesh   50 clients whispering random others from the first contact
 *   npm run bench -- --scenario cluster    three relays on one Redis vs one relay (needs redis-server)
 *   npm run bench -- --scenario failover   kill -9 / SIGTERM of one relay behind HAProxy (needs haproxy, redis-server)
 *   npm run bench -- --case N=200          only the cases whose name contains the text (fanout, idle)
 *   npm run bench -- --load-threads 2      fan-out load from two worker threads
 *   npm run bench -- --profile-relay DIR   relay processes run with --cpu-prof into DIR
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type Cli } from './lib/cli.js';
import { withContext, type Scenario } from './lib/context.js';
import { printReport } from './lib/report.js';
import { cluster } from './cluster.js';
import { codec } from './codec.js';
import { failover } from './failover.js';
import { fanout } from './fanout.js';
import { idle } from './idle.js';
import { login } from './login.js';
import { whisper } from './whisper.js';
import { whisperMesh } from './whisper-mesh.js';

/**
 * The transfer slot: filled by bench/transfer.ts (the file-transfer issue), which exports
 * `transfer: Scenario`. Until then the slot reports that it is empty.
 */
const transferSlot: Scenario = {
  name: 'transfer',
  describe: 'file transfer throughput (arrives with the file-transfer issue)',
  async run(ctx) {
    const file = fileURLToPath(new URL('./transfer.js', import.meta.url));
    if (!existsSync(file)) {
      return [{ bench: 'transfer', case: 'not available yet', figures: [], notes: ['bench/transfer.ts arrives with the file-transfer issue (5).'] }];
    }
    const module = (await import('./transfer.js' as string)) as { transfer?: Scenario };
    if (!module.transfer) throw new Error('bench/transfer.js does not export `transfer`');
    return module.transfer.run(ctx);
  },
};

export const SCENARIOS: Scenario[] = [fanout, whisper, whisperMesh, login, idle, codec, transferSlot, cluster, failover];

function usage(): string {
  return [
    'usage: npm run bench -- [--quick] [--scenario NAME]... [--case TEXT] [--load-threads K] [--profile-relay DIR]',
    '',
    'scenarios:',
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(12)} ${s.describe}`),
  ].join('\n');
}

async function main(): Promise<void> {
  let cli: Cli;
  try {
    cli = parseArgs(process.argv.slice(2), SCENARIOS.map((s) => s.name));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage()}\n`);
    process.exit(2);
  }
  if (cli.help) {
    process.stdout.write(usage() + '\n');
    return;
  }
  const chosen = cli.scenarios.length > 0 ? SCENARIOS.filter((s) => cli.scenarios.includes(s.name)) : SCENARIOS;
  const started = Date.now();
  let failed = 0;
  await withContext(cli, async (ctx) => {
    /** Runs one scenario; its output (tables and JSON lines, or the failure) as text. */
    const runOne = async (scenario: Scenario): Promise<string> => {
      ctx.progress(`scenario ${scenario.name}${cli.quick ? ' (quick)' : ''}`);
      const scenarioStarted = Date.now();
      const lines: string[] = [];
      try {
        const reports = await scenario.run(ctx);
        ctx.progress(`scenario ${scenario.name} done in ${((Date.now() - scenarioStarted) / 1000).toFixed(1)} s`);
        for (const report of reports) printReport(report, (line) => lines.push(line));
      } catch (error) {
        failed += 1;
        lines.push(`== ${scenario.name}: FAILED: ${(error as Error)?.stack ?? String(error)}`, '');
      }
      return lines.join('\n') + '\n';
    };
    if (cli.quick) {
      // A smoke run proves the harness, not the figures: scenarios run side by side, printed in order.
      for (const output of await Promise.all(chosen.map(runOne))) process.stdout.write(output);
    } else {
      // Measuring runs one scenario at a time, each printed as soon as it is done.
      for (const scenario of chosen) process.stdout.write(await runOne(scenario));
    }
  });
  const summary = `${chosen.length} scenario(s) in ${((Date.now() - started) / 1000).toFixed(1)} s${failed > 0 ? `, ${failed} failed` : ''}${cli.quick ? ' (quick: figures are not meaningful)' : ''}`;
  process.stdout.write(summary + '\n');
  if (failed > 0) process.exitCode = 1;
}

await main();
// Everything above closes what it opened; should a leak slip in, report it rather than hang.
setTimeout(() => {
  process.stderr.write('[bench] handles were left open after the run; exiting anyway\n');
  process.exit(process.exitCode ?? 0);
}, 5_000).unref();
