import v8 from 'node:v8';

/**
 * Keeps V8's young generation at its starting size (1 MB semi-spaces) for the rest of the
 * process: `--semi-space-growth-factor=1`, set at run time (V8 reads it at each growth step).
 *
 * Why: under a file transfer's steady allocation (a few small objects per TLS record and per
 * message) V8 grows the main thread's semi-spaces to their 16 MB default maximum, which is
 * ~13-14 MB of RSS that a client process never gives back; issue 15 asks for at most 100 MB
 * per client process, and a ChatClient is ~77-80 MB before any transfer. Measured on the
 * 1 GB transfer bench: the receiver peaked at 112-114 MB without it and ~98 MB with the same
 * limit given on the command line (`--max-semi-space-size=1`), at the same CPU per GB (the
 * extra scavenges are cheap: almost nothing survives them). A library should not change its
 * host's GC, so this is for the securechat processes themselves (tui/cli.ts, tui/start.ts) and
 * the bench processes that stand in for them; an embedder may call it too.
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
