/**
 * The cgroup backends: the kernel freezes every task of a cgroup atomically and
 * invisibly (no SIGCHLD, no job-control change, forks included by construction).
 * v2 writes 1 to cgroup.freeze, v1 FROZEN to freezer.state (see state.ts).
 */
import { abortedBeforeStart, alreadyFrozen, FreezeError } from '../../base/errors.js';
import {
  cgroupPids,
  frozenAround,
  likelyFreezer,
  type ResolvedCgroup,
  writeCgroupFile,
} from '../../kernel/cgroupfs.js';
import { readProcessStat } from '../../kernel/procfs.js';
import type { ProcStat } from '../../kernel/stat.js';
import { type ProcessInfo, type ProcessRecord, processInfo, processRecord } from '../../tree/process.js';
import type { BreachLog, BreachPolicy, HoldCheck } from '../breach.js';
import type { BackendFreeze, SafetyNet, StopContext, Stopped } from '../contract.js';
import { startCgroupHoldCheck } from './cgroup-hold-check.js';
import { FROZEN_VALUE, frozenBefore, THAWED_VALUE, waitFrozen } from './state.js';

/** @internal */
export interface CgroupFreezeRequest {
  cgroup: ResolvedCgroup;
  /** The hold check: what a breach makes it do, how often it looks, the bound on one refreeze. */
  policy: BreachPolicy;
  intervalMs: number;
  timeoutMs: number;
  /**
   * Members' stats read just before (by the look that chose this backend): the process list
   * takes them instead of reading each member again once frozen (1000 reads, ~12 ms). What
   * they give (pid, parent, name, start time, thread count) does not change in those moments
   * but for a thread started meanwhile.
   */
  known?: ReadonlyMap<number, ProcStat> | undefined;
}

/** @internal */
export class CgroupBackendFreeze implements BackendFreeze {
  #request: CgroupFreezeRequest;
  /**
   * Whether the cgroup itself asked to be frozen before we came: then it stays frozen. A
   * cgroup frozen before us that someone thaws during the hold and that we refreeze is ours
   * from then on, and the thaw thaws it.
   */
  #wasFrozen: boolean;
  #wrote = false;

  constructor(request: CgroupFreezeRequest) {
    this.#request = request;
    this.#wasFrozen = frozenBefore(request.cgroup);
  }

  get #thawed(): string {
    return THAWED_VALUE[this.#request.cgroup.version];
  }

  async stop(context: StopContext): Promise<Stopped> {
    const members = this.#takeOverFrozen(context.join);
    const { cgroup } = this.#request;
    const net = await context.safetyNet();
    // Before the first write, so no moment leaves the cgroup frozen without a guard.
    if (net && !this.#wasFrozen) net.guardFileWrite(cgroup.control, this.#thawed);
    if (context.signal?.aborted) throw abortedBeforeStart();
    this.#wrote = true;
    writeCgroupFile(cgroup.control, FROZEN_VALUE[cgroup.version]);
    await waitFrozen(cgroup, context.signal, context.deadline);
    if (net?.failure) throw net.failure;
    return {
      backend: cgroup.version,
      identity: 'starttime',
      processes: snapshotProcesses(members ?? cgroupPids(cgroup.path), this.#wasFrozen, this.#request.known),
      rounds: 1,
      exited: 0,
    };
  }

  /**
   * A freezer already set at or above the cgroup, or at its path in the other hierarchy (podman
   * pause writes the v1 freezer where both are mounted, and a v2 freeze then never completes):
   * ALREADY_FROZEN at once, or, joining, the hold is of that cgroup as it is, left frozen at the
   * thaw. Returns the target's own processes when it took over another cgroup.
   */
  #takeOverFrozen(join: boolean): number[] | undefined {
    const target = this.#request.cgroup;
    const frozen = frozenAround(target);
    if (frozen === null || (frozen.cgroup.path === target.path && this.#wasFrozen && join)) return undefined;
    const members = cgroupPids(target.path);
    if (!join)
      throw alreadyFrozen(frozen.inside, frozen.cgroup.version, likelyFreezer(frozen.inside), members);
    this.#request = { ...this.#request, cgroup: frozen.cgroup };
    this.#wasFrozen = true;
    return members;
  }

  resume(): ProcessInfo[] {
    this.#thaw();
    return []; // the kernel freezer is invisible to parents: no ancestor stopped
  }

  /** guarantee 2: nothing left frozen by a rejected freeze; the error says what the rollback did. */
  rollback(error: unknown): void {
    const { cgroup } = this.#request;
    let outcome = this.#wasFrozen ? 'it was frozen before this freeze and stays frozen' : 'it was thawed';
    try {
      this.#thaw();
    } catch (rollbackError) {
      outcome = `the thaw failed too (${(rollbackError as Error).message}): run \`treefreeze thaw --cgroup ${cgroup.path}\``;
    }
    if (this.#wrote && error instanceof FreezeError) error.message += `; ${outcome}`;
  }

  /** A cgroup's processes are never joined (claims are of signal holds). */
  handOver(): void {}

  brief(net: SafetyNet): void {
    if (!this.#wasFrozen) net.guardFileWrite(this.#request.cgroup.control, this.#thawed);
  }

  startHoldCheck(log: BreachLog, net: () => SafetyNet | undefined, onExited: () => void): HoldCheck {
    const request = this.#request;
    return startCgroupHoldCheck({
      onExited,
      cgroup: request.cgroup,
      policy: request.policy,
      intervalMs: request.intervalMs,
      timeoutMs: request.timeoutMs,
      log,
      adopt: () => {
        if (!this.#wasFrozen) return;
        this.#wasFrozen = false;
        net()?.guardFileWrite(request.cgroup.control, this.#thawed);
      },
    });
  }

  #thaw(): void {
    if (!this.#wrote || this.#wasFrozen) return;
    try {
      writeCgroupFile(this.#request.cgroup.control, this.#thawed);
    } catch (error) {
      // Removed while frozen (its processes gone): nothing is left frozen.
      if (!(error instanceof FreezeError && error.code === 'NO_SUCH_CGROUP')) throw error;
    }
  }
}

function snapshotProcesses(
  pids: number[],
  wasStopped: boolean,
  known?: ReadonlyMap<number, ProcStat>,
): ProcessRecord[] {
  const processes: ProcessRecord[] = [];
  for (const pid of pids) {
    const stat = known?.get(pid) ?? readProcessStat(pid);
    if (stat !== null) processes.push(processRecord(processInfo(stat), { wasStopped, traced: false }));
  }
  return processes;
}
