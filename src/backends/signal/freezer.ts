/**
 * The state of one signal-backend freeze and the steps on it: rounds of discover, bind,
 * guard, SIGSTOP and confirm until a rescan finds nothing new; the same rounds again to
 * refreeze a tree someone resumed during the hold; SIGCONT on thaw.
 */
import { aborted, count, FreezeError, thawFailed } from '../../base/errors.js';
import type { Native } from '../../kernel/native.js';
import type { NativeCore } from '../../kernel/native-core.js';
import { KeptStatFiles } from '../../kernel/stat-files.js';
import type { Ancestor } from '../../tree/ancestors.js';
import { hasStoppedTask } from '../../tree/ancestors.js';
import { bulkStatReaderOf, discoverTree, type KnownProcess, type ProcessNode } from '../../tree/discovery.js';
import { type IdentityMethod, releaseIdentity, sendSignal, sendSignalInBulk } from '../../tree/identity.js';
import type { ProcessInfo } from '../../tree/process.js';
import type { SafetyNet, SafetyNetProcesses } from '../contract.js';
import { bindNewcomers, refuseUnsignallable, stopOrder, withoutSafetyNets } from './binding.js';
import { knownForRescan, noneExited } from './rescan-known.js';
import { type TrackedProcess, waitUntilStopped } from './wait.js';

/** A tree that still shows newcomers after this many rounds is "keeps changing". */
export const MAX_ROUNDS = 32;

/** @internal */
export interface FreezerSetup {
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the user's exclusions, safety nets). */
  exclude: Set<number>;
  /** The safety nets' processes: never frozen. */
  safetyNets: SafetyNetProcesses;
  calls: Native | null;
  /** The loops of a large freeze in C; null runs their TypeScript twins. */
  core: NativeCore | null;
  identity: IdentityMethod;
  discovery?: 'children-files' | 'scan' | undefined;
}

/** @internal */
export interface RoundsOptions {
  deadline: number;
  signal?: AbortSignal | undefined;
  /** The safety net to tell about each process before it is stopped. */
  net: () => SafetyNet | undefined;
  /** Called with each round's newcomers before they are bound; may await (the safety net's start). */
  beforeSignal?: ((newcomers: ProcessNode[]) => Promise<ProcessNode[]> | ProcessNode[]) | undefined;
  /** Called for each tracked process found to have exited. */
  onExit?: (() => void) | undefined;
  /** A process held by a cgroup freezer: held too (true), or ALREADY_FROZEN. */
  joinFrozenCgroups?: boolean | undefined;
  /** Called with each round's bound newcomers before any of them is stopped; may reject. */
  afterBind?: ((batch: readonly TrackedProcess[]) => Promise<void>) | undefined;
  /** Profiling marks. */
  phase?: ((name: string) => void) | undefined;
}

/** @internal */
export class SignalFreezer {
  /** Insertion order is stop order; resume walks it backwards. */
  readonly tracked = new Map<number, TrackedProcess>();
  readonly stoppedByUs = new Set<TrackedProcess>();
  readonly #everTracked: TrackedProcess[] = [];
  readonly #setup: FreezerSetup;
  /** Set by resume(): nothing is stopped after the thaw, whatever was in flight. */
  #closed = false;
  /**
   * A discovered process exited before it could be bound: its children, tracked or not,
   * have a new parent, and what this freeze recorded of their parents is no longer true.
   */
  #lostBeforeBind = false;

  constructor(setup: FreezerSetup) {
    this.#setup = setup;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether every process was bound by pidfd (the freeze's identity is exact). */
  get exactIdentity(): boolean {
    return this.#everTracked.length > 0 && this.#everTracked.every((process) => process.pidfd !== undefined);
  }

  /**
   * SIGSTOP, to a process this freeze is responsible for. One that was stopped when it was
   * bound (by someone else: another freezer's hold, a `kill -STOP`) is left alone: a SIGSTOP
   * sent after that other hold had thawed it would stop it for good, since this freeze's thaw
   * leaves alone what it found stopped. If it runs again before the freeze is confirmed, it is
   * adopted first (see restop).
   */
  stop(process: TrackedProcess): void {
    if (this.#closed || process.wasStopped) return;
    if (sendSignal(process, 'SIGSTOP', this.#setup.calls) === 'sent') this.stoppedByUs.add(process);
  }

  /** stop() for each: through the native core in one call for those bound by pidfd. */
  stopAll(processes: readonly TrackedProcess[]): void {
    const core = this.#setup.core;
    const byPidfd = core && this.#setup.calls ? processes.filter((p) => p.pidfd !== undefined) : [];
    if (core === null || byPidfd.length < core.minBatch || this.#closed) {
      for (const process of processes) this.stop(process);
      return;
    }
    const viaPidfd = new Set(byPidfd);
    for (const process of processes) if (!viaPidfd.has(process)) this.stop(process);
    const toStop = byPidfd.filter((process) => !process.wasStopped);
    const { sent, firstError } = sendSignalInBulk(toStop, 'SIGSTOP', core);
    for (const process of sent) this.stoppedByUs.add(process);
    // Every process was tried, and the ones stopped are recorded for the rollback to resume.
    if (firstError !== undefined) throw firstError;
  }

  /**
   * A process found running while the freeze waits for it. One found stopped when bound has
   * been resumed by whoever stopped it (another freezer thawed): it is this freeze's from now
   * on — the safety net learns it, the thaw will resume it — and then it is stopped.
   */
  #restop(process: TrackedProcess, net: () => SafetyNet | undefined): void {
    if (this.#closed) return;
    if (process.wasStopped) {
      net()?.guardProcesses([process]);
      process.wasStopped = false;
    }
    this.stop(process);
  }

  /**
   * Rounds until a rescan finds nothing new. `settled`: the tracked processes were already
   * stopped and confirmed once (a refreeze), so the first rescan that finds nothing ends it.
   * Returns the rounds that signalled something and the processes it added.
   */
  async freezeRounds(
    options: RoundsOptions,
    settled = false,
  ): Promise<{ rounds: number; added: TrackedProcess[] }> {
    const setup = this.#setup;
    const phase = options.phase ?? (() => {});
    const added: TrackedProcess[] = [];
    let rounds = 0;
    for (;;) {
      this.#checkOpen(options.signal);
      phase('other');
      // Discovery's stat files stay open until binding, which reads them again (one pread).
      const kept = new KeptStatFiles(setup.core);
      let newcomers: ProcessNode[];
      let batch: TrackedProcess[];
      try {
        // Every tracked process was confirmed stopped by the wait that ended the last round.
        const { nodes, newcomers: found } = this.#discover(true, kept);
        newcomers = found;
        phase('discover');
        if ((rounds > 0 || settled) && newcomers.length === 0) break;
        if (rounds >= MAX_ROUNDS) {
          throw new FreezeError(
            'TREE_KEEPS_CHANGING',
            `the tree kept changing: ${count(newcomers.length, 'new process', 'new processes')} still appeared after ${MAX_ROUNDS} rescans; everything it froze was thawed`,
            newcomers.map((node) => node.pid),
          );
        }
        if (rounds === 0 && !settled) refuseUnsignallable(nodes, setup.core);
        phase('other');
        if (options.beforeSignal) newcomers = await options.beforeSignal(newcomers);
        this.#checkOpen(options.signal);
        rounds++;
        batch = bindNewcomers(newcomers, setup.identity, setup.calls, kept, setup.core);
      } finally {
        kept.closeRest();
      }
      if (batch.length !== newcomers.length) this.#lostBeforeBind = true;
      phase('bind');
      for (const process of batch) {
        this.tracked.set(process.pid, process);
        this.#everTracked.push(process);
        added.push(process);
      }
      if (options.afterBind) await options.afterBind(batch);
      this.#checkOpen(options.signal);
      // The safety net learns each process before it is stopped, so no window leaves one unguarded.
      options.net()?.guardProcesses(batch.filter((process) => !process.wasStopped));
      phase('watchdog write');
      this.stopAll(stopOrder(batch, newcomers));
      phase('SIGSTOP');
      await this.waitStopped(options);
      phase('wait');
    }
    return { rounds, added };
  }

  /** The processes of the tree now that this freeze does not track (they appeared since). */
  findNewcomers(): ProcessNode[] {
    return this.#discover(false).newcomers;
  }

  /**
   * The tree now, and the processes of it this freeze does not track (pid and start time).
   * `confirmed`: every tracked process was just confirmed stopped. A stopped process cannot
   * fork, start a thread or change its parent while its own parent lives, so what we
   * recorded of it is current as long as no process this freeze ever tracked has exited:
   * then discovery does not read the tracked processes again (one poll() on their pidfds
   * proves them all alive, after the discovery). Otherwise, a full discovery.
   */
  #discover(confirmed: boolean, kept?: KeptStatFiles): { nodes: ProcessNode[]; newcomers: ProcessNode[] } {
    const setup = this.#setup;
    // This process's safety nets (a replacement started during the hold included) stay running.
    for (const pid of setup.safetyNets.own()) setup.exclude.add(pid);
    const discover = (known?: ReadonlyMap<number, KnownProcess>) =>
      discoverTree(setup.root, {
        includeRoot: setup.includeRoot,
        exclude: setup.exclude,
        method: setup.discovery,
        sizeHint: this.tracked.size,
        known,
        readStat: kept?.read,
        readStats: kept?.readMany ?? bulkStatReaderOf(setup.core),
      });
    const known = confirmed
      ? knownForRescan(this.tracked, this.#everTracked, setup.calls, this.#lostBeforeBind)
      : undefined;
    let discovered = discover(known);
    if (known !== undefined && !noneExited(this.#everTracked, setup.calls)) discovered = discover();
    // Another freezer's watchdog inside this tree keeps running, with its lease timer:
    // stopping it would disarm that freezer's safety net. (Its freezer may be frozen.)
    const nodes = withoutSafetyNets(discovered, setup.exclude, setup.safetyNets);
    const newcomers = nodes.filter((node) => this.tracked.get(node.pid)?.startTime !== node.startTime);
    return { nodes, newcomers };
  }

  /** Waits until every tracked process is confirmed stopped (see wait.ts). */
  waitStopped(options: RoundsOptions): Promise<void> {
    return waitUntilStopped({
      tracked: this.tracked,
      deadline: options.deadline,
      signal: options.signal,
      restop: (process) => this.#restop(process, options.net),
      inFrozenCgroup: options.joinFrozenCgroups ? 'join' : 'refuse',
      onExit: options.onExit,
      core: this.#setup.core,
    });
  }

  /**
   * Stops again processes found running during the hold, then rounds until nothing new
   * appears. A process that was stopped before the freeze and that someone resumed is
   * treefreeze's from now on: it was running when treefreeze stopped it, so the thaw
   * resumes it. Returns the processes that were new.
   */
  async refreeze(ran: TrackedProcess[], options: RoundsOptions): Promise<TrackedProcess[]> {
    for (const process of ran) this.#restop(process, options.net);
    await this.waitStopped(options);
    return (await this.freezeRounds(options, true)).added;
  }

  /**
   * SIGCONT, children first, to exactly the processes this freeze stopped and that were
   * running before; then to the ancestors outside the tree that were running before the
   * freeze and are stopped now (they stopped themselves when their child stopped, as su
   * does). Tries every process whatever fails; throws THAW_FAILED naming the ones it
   * could not resume. Returns the ancestors it continued.
   */
  resume(ancestors: readonly Ancestor[] = []): ProcessInfo[] {
    this.#closed = true;
    const failed: number[] = [];
    let firstError: unknown;
    for (const process of [...this.stoppedByUs].reverse()) {
      if (process.wasStopped) continue;
      try {
        sendSignal(process, 'SIGCONT', this.#setup.calls);
      } catch (error) {
        failed.push(process.pid);
        firstError ??= error;
      }
    }
    const continued: ProcessInfo[] = [];
    for (const ancestor of ancestors) {
      if (ancestor.wasStopped || !hasStoppedTask(ancestor.pid)) continue;
      try {
        if (sendSignal(ancestor, 'SIGCONT', this.#setup.calls) !== 'sent') continue;
      } catch {
        // Best effort: the tree itself is resumed. An ancestor of another user in another
        // session may not be signalled (SIGCONT needs the same uid or the same session).
        continue;
      }
      const { pid, ppid, comm, startTime, threads } = ancestor;
      continued.push({ pid, ppid, comm, startTime, threads });
    }
    if (failed.length > 0) throw thawFailed(count(failed.length, 'process', 'processes'), failed, firstError);
    return continued;
  }

  releaseIdentities(): void {
    for (const process of this.#everTracked) releaseIdentity(process);
  }

  #checkOpen(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw aborted(signal.reason);
    if (this.#closed) throw aborted(new Error('the tree was thawed'));
  }
}
