/**
 * Steps that cost a new connection milliseconds of the event loop's CPU (a TLS handshake, a
 * login: key proof, bundle check, account reads) taken one per turn of the event loop, in
 * arrival order. Between two of them the loop goes round once, so messages waiting on the
 * sockets of people already chatting are read and relayed in between: a burst of logins
 * delays a room message by one step at most, not by all of them.
 *
 * Why: in the login bench's burst (50 clients arriving at once) the relay's event loop held
 * 40-100 ms stretches of back-to-back TLS handshakes and login checks, and the chat's p99
 * rose from 4-8 ms to 24-68 ms. The cost to the logins themselves is one loop turn each (the
 * steps are as fast as before when nothing else is waiting).
 */
export class TurnQueue {
  private readonly jobs: Array<() => void> = [];
  private scheduled = false;

  /** Runs `job` in a later turn, after the jobs queued before it. */
  run(job: () => void): void {
    this.jobs.push(job);
    this.schedule();
  }

  /** Resolves in a later turn, after the steps queued before it. */
  turn(): Promise<void> {
    return new Promise((resolve) => this.run(resolve));
  }

  get waiting(): number {
    return this.jobs.length;
  }

  private schedule(): void {
    if (this.scheduled || this.jobs.length === 0) return;
    this.scheduled = true;
    // An immediate queued from an immediate runs in the next turn, after that turn's reads.
    setImmediate(() => {
      this.scheduled = false;
      this.jobs.shift()?.();
      this.schedule();
    });
  }
}
