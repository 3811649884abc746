/**
 * The signal backend: SIGSTOP every process of the tree, confirm every task stopped,
 * rescan until a rescan finds nothing new; verify the hold; SIGCONT on thaw.
 * See docs/design.md.
 */
import type { Native } from '../../kernel/native.js';
import { coreOf, type Platform } from '../../kernel/platform.js';
import { type Ancestor, outsideAncestors } from '../../tree/ancestors.js';
import type { ProcessNode } from '../../tree/discovery.js';
import { bindPidfd, type IdentityMethod, releaseIdentity } from '../../tree/identity.js';
import type { ProcessInfo } from '../../tree/process.js';
import type { BreachLog, BreachPolicy, HoldCheck } from '../breach.js';
import type {
  BackendFreeze,
  GuardedProcess,
  SafetyNet,
  SafetyNetProcesses,
  StopContext,
  Stopped,
} from '../contract.js';
import { SignalFreezer } from './freezer.js';
import { SignalHoldCheck } from './signal-hold-check.js';

/** @internal */
export interface SignalFreezeRequest {
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the user's exclusions). */
  exclude: Set<number>;
  /** Forced identity; by default pidfd where the native calls load. */
  identity?: IdentityMethod | undefined;
  platform: Platform;
  safetyNets: SafetyNetProcesses;
  /** The hold check: what a breach makes it do, how often it looks, the bound on one refreeze. */
  policy: BreachPolicy;
  intervalMs: number;
  /** Space out looks that cost much (the default interval on a large tree): see SignalHoldCheck. */
  spaceByCost: boolean;
  timeoutMs: number;
  /** Force the discovery method (tests). */
  discovery?: 'children-files' | 'scan' | undefined;
  /** Called after each discovery, before anything found is signalled (tests). */
  afterDiscovery?: ((pids: number[]) => void) | undefined;
  /** See SignalHoldCheckOptions (tests). */
  lookBudget?: number | undefined;
  onLook?: ((lookMs: number) => void) | undefined;
}

/** @internal */
export class SignalBackendFreeze implements BackendFreeze {
  readonly #request: SignalFreezeRequest;
  /** What is above the tree, as it was before anything was stopped (see tree/ancestors.ts). */
  #ancestors: Ancestor[] = [];
  #freezer: SignalFreezer | undefined;

  constructor(request: SignalFreezeRequest) {
    this.#request = request;
  }

  async stop(context: StopContext): Promise<Stopped> {
    const request = this.#request;
    const { phase } = context;
    // The native calls: loaded already by the watchdog's spawn, unless the watchdog is off
    // (then here, the first time; slow beside a spinning tree): inside durationMs either way.
    const calls = request.identity === 'starttime' ? null : request.platform.native();
    phase('native library');
    this.#ancestors = bindAncestors(outsideAncestors(request.root, request.includeRoot), calls);
    const freezer = new SignalFreezer({
      root: request.root,
      includeRoot: request.includeRoot,
      exclude: request.exclude,
      safetyNets: request.safetyNets,
      calls,
      core: coreOf(request.platform),
      identity: calls ? 'pidfd' : 'starttime',
      discovery: request.discovery,
    });
    this.#freezer = freezer;
    let net: SafetyNet | undefined;
    let exited = 0;
    const { rounds } = await freezer.freezeRounds({
      deadline: context.deadline,
      signal: context.signal,
      net: () => net,
      onExit: () => exited++,
      joinFrozenCgroups: context.join,
      phase,
      // Found stopped: another live hold may hold them (then ALREADY_HELD, before any stop).
      afterBind: (batch) => context.refuseHeld(batch.filter((process) => process.wasStopped)),
      beforeSignal: async (newcomers) => {
        if (net === undefined) net = await this.#netReady(context);
        const batch = this.#withoutSafetyNets(newcomers);
        phase('watchdog wait');
        // After the net exists (its spawn allocates a pid), before anything found is signalled.
        request.afterDiscovery?.(batch.map((node) => node.pid));
        if (net?.failure) throw net.failure;
        return batch;
      },
    });
    return {
      backend: 'signal',
      identity: freezer.exactIdentity ? 'pidfd' : 'starttime',
      processes: [...freezer.tracked.values()],
      rounds,
      exited,
    };
  }

  /** The safety net, told (before anything is stopped) the ancestors it must continue if we die. */
  async #netReady(context: StopContext): Promise<SafetyNet | undefined> {
    const net = await context.safetyNet();
    net?.guardAncestors(this.#ancestors.filter((ancestor) => !ancestor.wasStopped));
    return net;
  }

  /**
   * This round's newcomers minus this process's safety nets: a new one is our child, and can
   * be in the tree only when we freeze our own descendants; it stays out from now on.
   */
  #withoutSafetyNets(newcomers: ProcessNode[]): ProcessNode[] {
    const own = new Set(this.#request.safetyNets.own());
    for (const pid of own) this.#request.exclude.add(pid);
    return newcomers.filter((node) => !own.has(node.pid));
  }

  resume(): ProcessInfo[] {
    try {
      return this.#freezer?.resume(this.#ancestors) ?? [];
    } finally {
      // Closing 2 descriptors per process (2,000 closes at 1,000 processes, ~15 ms) is not
      // part of resuming: the thaw returns first; nothing reads them after the resume.
      setImmediate(() => this.#release());
    }
  }

  rollback(): void {
    try {
      this.#freezer?.resume(this.#ancestors); // guarantee 2: a rejected freeze leaves nothing stopped
    } catch {
      // resume() already tried every process; the freeze's own error says what went wrong first
    }
    this.#release();
  }

  handOver(processes: readonly GuardedProcess[]): void {
    for (const { pid, startTime } of processes) {
      const tracked = this.#freezer?.tracked.get(pid);
      if (tracked !== undefined && tracked.startTime === startTime) tracked.wasStopped = true; // left stopped
    }
  }

  brief(net: SafetyNet): void {
    net.guardAncestors(this.#ancestors.filter((ancestor) => !ancestor.wasStopped));
    const stopped = [...(this.#freezer?.stoppedByUs ?? [])];
    net.guardProcesses(stopped.filter((process) => !process.wasStopped));
  }

  startHoldCheck(log: BreachLog, net: () => SafetyNet | undefined, onExited: () => void): HoldCheck {
    const request = this.#request;
    return new SignalHoldCheck({
      onExited,
      freezer: this.#freezer as SignalFreezer,
      policy: request.policy,
      intervalMs: request.intervalMs,
      spaceByCost: request.spaceByCost,
      lookBudget: request.lookBudget,
      onLook: request.onLook,
      timeoutMs: request.timeoutMs,
      log,
      net,
    });
  }

  #release(): void {
    this.#freezer?.releaseIdentities();
    for (const ancestor of this.#ancestors) releaseIdentity(ancestor);
  }
}

/** Binds each ancestor's identity (a pidfd where possible); drops the ones already gone. */
function bindAncestors(ancestors: Ancestor[], calls: Native | null): Ancestor[] {
  return ancestors.filter((ancestor) => bindPidfd(ancestor, calls));
}
