/**
 * Two watchdogs guard every hold: two processes, each told everything (the same identity
 * lines, the same lease, the same end). One that is killed is never a single point of
 * failure, not even for the milliseconds its replacement needs to start and be briefed: with
 * one watchdog, killing it and then the freezer within those milliseconds left the tree
 * stopped for good (16 of 16 runs at 0–1 ms apart, 3 of 8 at 5 ms). The keeper replaces a
 * twin that dies while the other one guards.
 */
import type { Platform } from '../kernel/platform.js';
import type { Watchdog, WatchdogState } from './channel.js';
import { acquireWatchdog, WATCHDOG_TWINS } from './shared.js';

/** A hold's watchdogs, seen as one: what one is told, all are told. */
export class TwinWatchdogs implements Watchdog {
  readonly #members: Watchdog[];

  constructor(members: readonly Watchdog[]) {
    this.#members = [...members];
  }

  /** The first twin's pid (every pid: `pids`). */
  get pid(): number {
    return (this.#members[0] as Watchdog).pid;
  }

  get pids(): number[] {
    return this.#members.map((member) => member.pid);
  }

  get members(): readonly Watchdog[] {
    return this.#members;
  }

  /** Puts `fresh` (already briefed and leased) in the place of twin `index`. */
  replace(index: number, fresh: Watchdog): void {
    this.#members[index] = fresh;
  }

  get outsideCgroup(): boolean {
    return this.#members.every((member) => member.outsideCgroup);
  }

  get failure() {
    return this.#members.find((member) => member.failure)?.failure;
  }

  guardProcesses(processes: readonly { pid: number; startTime: number }[]): void {
    for (const member of this.#members) member.guardProcesses(processes);
  }

  guardAncestors(processes: readonly { pid: number; startTime: number }[]): void {
    for (const member of this.#members) member.guardAncestors(processes);
  }

  guardFileWrite(path: string, value: string): void {
    for (const member of this.#members) member.guardFileWrite(path, value);
  }

  startLease(ms: number): void {
    for (const member of this.#members) member.startLease(ms);
  }

  dismiss(): void {
    for (const member of this.#members) member.dismiss();
  }

  async confirmRunning(): Promise<void> {
    await Promise.all(this.#members.map((member) => member.confirmRunning()));
  }

  /** The worst of the twins' states: one dead twin makes the pair read dead. */
  state(): WatchdogState {
    const states = this.#members.map((member) => member.state());
    if (states.includes('dead')) return 'dead';
    return states.includes('stopped') ? 'stopped' : 'running';
  }

  sendContinue(): void {
    for (const member of this.#members) if (member.state() === 'stopped') member.sendContinue();
  }

  takeContinues(): number {
    return this.#members.reduce((sum, member) => sum + member.takeContinues(), 0);
  }
}

/**
 * @internal
 * The twin watchdogs for one freeze (this process's kept ones, started if needed), by
 * `deadline`. `exactPid`: see acquireWatchdog.
 */
export async function acquireTwinWatchdogs(
  platform: Platform,
  deadline: number,
  exactPid = false,
): Promise<TwinWatchdogs> {
  const places = Array.from({ length: WATCHDOG_TWINS }, (_, place) => place);
  const acquired = await Promise.allSettled(
    places.map((place) => acquireWatchdog(platform, deadline, exactPid, place)),
  );
  const members = acquired.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = acquired.find((result) => result.status === 'rejected');
  if (failed) {
    for (const member of members) member.dismiss();
    throw failed.reason;
  }
  return new TwinWatchdogs(members);
}
