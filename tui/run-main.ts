/**
 * Runs an entry point's `main` and exits with its status (1 and a one-line message when it
 * throws). stdin may still be open (after /exit, or never read): it must not keep the process alive.
 */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
      process.stdin.destroy();
    },
    (error: unknown) => {
      process.stderr.write(`securechat: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
      process.stdin.destroy();
    },
  );
}
