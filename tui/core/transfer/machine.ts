import { ChatError } from '../../../shared/errors.js';
import type { Scheduler } from './scheduler.js';
import {
  type TimerName,
  type TransferContext,
  type TransferEffect,
  type TransferInit,
  type TransferInput,
  initialContext,
  transition,
} from './state-machine.js';

/** Effects other than timers, which the machine handles itself with its scheduler. */
export type DriverEffect = Exclude<TransferEffect, { type: 'start-timer' } | { type: 'stop-timer' }>;

/**
 * Runs the pure {@link transition} function: holds the context, turns timer effects into
 * scheduler calls (a fired timer comes back as a `timeout` input), and hands every other
 * effect to the driver. Inputs given while effects run (a dial that fails synchronously)
 * are queued and handled in order, so the driver never sees a half-applied step.
 */
export class TransferMachine {
  private current: TransferContext;
  private readonly timers = new Map<TimerName, unknown>();
  private readonly queue: TransferInput[] = [];
  private running = false;
  private halted = false;

  /**
   * @param onEffect called for every effect except timers, after the context has moved on
   *   (so `machine.context` already shows the new state). If it throws, the transfer fails
   *   with E_INTERNAL.
   */
  constructor(
    init: TransferInit,
    private readonly scheduler: Scheduler,
    private readonly onEffect: (effect: DriverEffect, machine: TransferMachine) => void,
  ) {
    this.current = initialContext(init);
  }

  get context(): Readonly<TransferContext> {
    return this.current;
  }

  /** Names of the timers currently running (for tests and `/transfers`). */
  get activeTimers(): TimerName[] {
    return [...this.timers.keys()];
  }

  /** True after {@link halt}. */
  get isHalted(): boolean {
    return this.halted;
  }

  /**
   * Stops the machine where it stands, without any effect: every timer is cancelled, queued
   * and later inputs are dropped, and the context keeps its (non-terminal) state. For a
   * process going away with its transfers journalled: the peer must not be told anything
   * (it sees the connection break and waits to resume), and the next run restores them.
   */
  halt(): void {
    this.halted = true;
    this.queue.length = 0;
    for (const name of [...this.timers.keys()]) this.stopTimer(name);
  }

  input(input: TransferInput): void {
    if (this.halted) return;
    this.queue.push(input);
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.queue.shift(); next !== undefined && !this.halted; next = this.queue.shift()) {
        const result = transition(this.current, next, this.scheduler.now());
        this.current = result.context;
        for (const effect of result.effects) {
          if (this.halted) break;
          this.apply(effect);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private apply(effect: TransferEffect): void {
    switch (effect.type) {
      case 'start-timer': {
        this.stopTimer(effect.timer);
        const timer = effect.timer;
        const handle = this.scheduler.schedule(() => {
          this.timers.delete(timer);
          this.input({ type: 'timeout', timer });
        }, effect.ms);
        this.timers.set(timer, handle);
        return;
      }
      case 'stop-timer':
        this.stopTimer(effect.timer);
        return;
      case 'release':
        for (const name of [...this.timers.keys()]) this.stopTimer(name);
        break;
      default:
        break;
    }
    try {
      this.onEffect(effect, this);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const code = error instanceof ChatError ? error.code : 'E_INTERNAL';
      this.queue.push({ type: 'fail', code, message });
    }
  }

  private stopTimer(name: TimerName): void {
    const handle = this.timers.get(name);
    if (handle === undefined) return;
    this.scheduler.cancel(handle);
    this.timers.delete(name);
  }
}
