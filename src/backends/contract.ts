/**
 * What every backend does, and nothing more: stop a tree (these processes, or this
 * cgroup), confirm it stopped, verify the hold, resume. The hold layer (src/hold/) wraps a
 * backend in the protection every hold shares — the watchdog, the lease, the handle, the
 * rollback — so a backend never sees a watchdog: only a SafetyNet it must tell, before it
 * stops anything, how to undo it.
 */
import type { IdentityMethod } from '../tree/identity.js';
import type { ProcessInfo, ProcessRecord } from '../tree/process.js';
import type { BreachLog, HoldCheck } from './breach.js';

export type FreezeBackend = 'signal' | 'cgroup-v2' | 'cgroup-v1';

/** A process the safety net knows by pid and start time (a recycled pid is never touched). */
export interface GuardedProcess {
  pid: number;
  startTime: number;
}

/** What outlives this process and undoes the freeze if it dies: told before anything is stopped. */
export interface SafetyNet {
  /** Set once the net is known not to work: the freeze must not go on unprotected. */
  readonly failure: Error | undefined;
  /** Processes to resume. */
  guardProcesses(processes: readonly GuardedProcess[]): void;
  /** Ancestors outside the tree to continue after the tree, if they are stopped then. */
  guardAncestors(processes: readonly GuardedProcess[]): void;
  /** A file to write (a cgroup's thawed value). */
  guardFileWrite(path: string, value: string): void;
}

/** How a backend tells the safety nets' own processes, which are never frozen, from the tree. */
export interface SafetyNetProcesses {
  /** This process's own: its children, so they may sit inside a tree of its descendants. */
  own(): Iterable<number>;
  /** Whether a process is any freezer's (another freezer's inside the tree keeps that freeze safe). */
  isOne(pid: number, comm: string): boolean;
}

/** What a backend is given to stop a tree. */
export interface StopContext {
  /** performance.now() by which the tree must be confirmed stopped. */
  deadline: number;
  signal: AbortSignal | undefined;
  /**
   * The safety net, awaited before the first stop (undefined: the caller turned it off).
   * Started before the backend, so that its start overlaps the backend's first reads.
   */
  safetyNet(): Promise<SafetyNet | undefined>;
  /**
   * Fails with ALREADY_HELD if another live hold holds any of these processes (ones the
   * backend found stopped); call before stopping anything more.
   */
  refuseHeld(processes: readonly GuardedProcess[]): Promise<void>;
  /**
   * What to do with what another freezer holds (a cgroup frozen by podman pause, say): fail
   * with ALREADY_FROZEN (false), or hold it as it is (true: the caller asked to join).
   */
  join: boolean;
  /** Charges the time since the last mark to a phase (a no-op unless the benchmark profiles). */
  phase(name: string): void;
}

/** A tree confirmed stopped. */
export interface Stopped {
  backend: FreezeBackend;
  identity: IdentityMethod;
  processes: readonly ProcessRecord[];
  /** Discovery rounds (1 + rescans that found newcomers). */
  rounds: number;
  /** Processes that exited while being frozen. */
  exited: number;
}

/** One backend's freeze of one tree, driven by the hold layer. */
export interface BackendFreeze {
  /** Stops the tree and confirms it. On rejection the hold layer calls rollback(). */
  stop(context: StopContext): Promise<Stopped>;
  /**
   * Resumes what stop() stopped, synchronously, at most once; throws THAW_FAILED naming
   * what it could not resume. Returns the ancestors outside the tree it continued.
   */
  resume(): ProcessInfo[];
  /** After a failed stop(): resumes whatever it stopped; never throws; may add to `error`'s message what it did. */
  rollback(error: unknown): void;
  /** Tells a replacement safety net what the first one was told. */
  brief(net: SafetyNet): void;
  /**
   * Before resume(): these processes are no longer this hold's to resume (another hold
   * joined them and still holds them; the last hold to end resumes them).
   */
  handOver(processes: readonly GuardedProcess[]): void;
  /**
   * Verifies the hold, recording breaches in `log`; `net()` is the safety net in charge now;
   * `onExited` is called once every process of the tree has exited (a cgroup: empty or removed).
   */
  startHoldCheck(log: BreachLog, net: () => SafetyNet | undefined, onExited: () => void): HoldCheck;
}
