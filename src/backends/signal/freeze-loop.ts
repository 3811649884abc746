/**
 * The signal backend: SIGSTOP every process of the tree, confirm every task stopped,
 * rescan until a rescan finds nothing new; verify the hold; SIGCONT on thaw.
 * See docs/design.md.
 */
import type { Platform } from '../../kernel/platform.js';
import { type Ancestor, outsideAncestors } from '../../tree/ancestors.js';
import { bindPidfd, type IdentityMethod, releaseIdentity } from '../../tree/identity.js';
import type { Watchdog } from '../../watchdog/channel.js';
import { sealProtection } from '../../watchdog/lease.js';
import { acquireWatchdog } from '../../watchdog/shared.js';
import { FrozenTreeHandle, type HoldSettings } from '../frozen-tree.js';
import { SignalFreezer } from './freezer.js';
import { startSignalHoldCheck } from './hold-check.js';

/** @internal */
export interface SignalFreezeRequest {
  /** performance.now() when the caller called: durationMs counts from there. */
  started: number;
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the user's exclusions). */
  exclude: Set<number>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  watchdog: boolean;
  maxHoldMs?: number | undefined;
  hold: HoldSettings;
  /** Forced identity; by default pidfd where the native calls load. */
  identity?: IdentityMethod | undefined;
  platform: Platform;
  /** Force the discovery method (tests). */
  discovery?: 'children-files' | 'scan' | undefined;
  /** Called after each discovery, before anything found is signalled (tests). */
  afterDiscovery?: ((pids: number[]) => void) | undefined;
  /** Called once frozen with the milliseconds spent in each phase (the benchmark). */
  profile?: ((phases: Record<string, number>) => void) | undefined;
}

/** TREEFREEZE_PROFILE=1: print where a freeze spends its time, phase by phase, on stderr. */
const PROFILE = process.env.TREEFREEZE_PROFILE === '1';

/** @internal */
export async function freezeWithSignals(request: SignalFreezeRequest): Promise<FrozenTreeHandle> {
  // The caller raised this process's priority before anything else (see freeze.ts).
  const { started } = request;
  const phases: Record<string, number> = {};
  const profiling = PROFILE || request.profile !== undefined;
  let mark = started;
  const phase = (name: string) => {
    if (!profiling) return;
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + (now - mark);
    mark = now;
  };
  const deadline = started + request.timeoutMs;
  // Loads koffi on the first freeze (20 ms on an idle machine, seconds beside a spinning
  // tree in this session): after the priority raise, and inside durationMs.
  const calls = request.identity === 'starttime' ? null : request.platform.native();
  const identity: IdentityMethod = calls ? 'pidfd' : 'starttime';
  phase('native library');
  // Started first so that its exec overlaps discovery; awaited before the first SIGSTOP.
  const watchdogStarting = request.watchdog
    ? acquireWatchdog(
        request.platform,
        deadline,
        // Only a tree of our own descendants can contain the watchdog: then its exact pid is needed.
        request.root === process.pid,
      )
    : undefined;
  watchdogStarting?.catch(() => {}); // awaited below; never an unhandled rejection
  phase('watchdog spawn');
  let watchdog: Watchdog | undefined;
  // What is above the tree, as it was before anything was stopped (see tree/ancestors.ts).
  const ancestors = bindAncestors(outsideAncestors(request.root, request.includeRoot), calls);
  const freezer = new SignalFreezer({
    root: request.root,
    includeRoot: request.includeRoot,
    exclude: request.exclude,
    calls,
    identity,
    discovery: request.discovery,
  });
  const releaseAll = () => {
    freezer.releaseIdentities();
    for (const ancestor of ancestors) releaseIdentity(ancestor);
  };

  try {
    let exited = 0;
    const { rounds } = await freezer.freezeRounds({
      deadline,
      signal: request.signal,
      watchdog: () => watchdog,
      onExit: () => exited++,
      phase,
      beforeSignal: async (newcomers) => {
        let batch = newcomers;
        if (watchdogStarting && !watchdog) {
          const ready = await watchdogStarting;
          watchdog = ready;
          // The watchdog is our child: when we freeze our own descendants it must stay out.
          request.exclude.add(ready.pid);
          // It can only be in the tree when we freeze our own descendants: every other tree
          // that holds this process excludes our whole subtree already. A new watchdog has no
          // children yet; one kept from an earlier freeze (and its leases) was excluded from
          // discovery already, as every watchdog of this process is.
          batch = batch.filter((node) => node.pid !== ready.pid);
          // Before anything is stopped: the ancestors it must continue if we die.
          ready.guardAncestors(ancestors.filter((ancestor) => !ancestor.wasStopped));
        }
        phase('watchdog wait');
        // After the watchdog exists (its spawn allocates a pid), before anything found is signalled.
        request.afterDiscovery?.(batch.map((node) => node.pid));
        if (watchdog?.failure) throw watchdog.failure;
        return batch;
      },
    });
    // Never resolve unprotected: the watchdog must really run (usually long done).
    await sealProtection(watchdog, request.maxHoldMs);
    phase('other');
    const handle = new FrozenTreeHandle({
      backend: 'signal',
      identity: freezer.exactIdentity ? 'pidfd' : 'starttime',
      processes: [...freezer.tracked.values()],
      started,
      rounds,
      exited,
      maxHoldMs: request.maxHoldMs,
      hold: request.hold,
      resume: () => {
        try {
          return freezer.resume(ancestors);
        } finally {
          // Closing 2 descriptors per process (2,000 closes at 1,000 processes, ~15 ms) is not
          // part of resuming: the thaw returns first; nothing reads them after the resume.
          setImmediate(releaseAll);
        }
      },
      watchdog,
      platform: request.platform,
      // A replacement watchdog learns what the first one learnt: what this freeze stopped.
      brief: (fresh) => {
        fresh.guardAncestors(ancestors.filter((ancestor) => !ancestor.wasStopped));
        fresh.guardProcesses([...freezer.stoppedByUs].filter((process) => !process.wasStopped));
      },
      startHoldCheck: (context) =>
        startSignalHoldCheck({
          freezer,
          policy: request.hold.policy,
          intervalMs: request.hold.intervalMs,
          timeoutMs: request.timeoutMs,
          log: context.log,
          watchdog: context.watchdog,
        }),
    });
    phase('handle');
    if (profiling) report(phases, freezer.tracked.size, handle.durationMs, request.profile);
    return handle;
  } catch (error) {
    try {
      freezer.resume(ancestors); // guarantee 2: a rejected freeze leaves nothing stopped
    } catch {
      // resume() already tried every process; the freeze's own error says what went wrong first
    }
    watchdog ??= await watchdogStarting?.catch(() => undefined);
    watchdog?.dismiss();
    releaseAll();
    throw error;
  }
}

/** Hands the phases to the caller's profiler and, with TREEFREEZE_PROFILE=1, prints them. */
function report(
  phases: Record<string, number>,
  processes: number,
  durationMs: number,
  profile: ((phases: Record<string, number>) => void) | undefined,
): void {
  profile?.(phases);
  if (!PROFILE) return;
  const text = Object.entries(phases)
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
    .join(', ');
  process.stderr.write(`treefreeze: ${processes} processes in ${durationMs.toFixed(2)} ms: ${text}\n`);
}

/** Binds each ancestor's identity (a pidfd where possible); drops the ones already gone. */
function bindAncestors(ancestors: Ancestor[], calls: ReturnType<Platform['native']>): Ancestor[] {
  return ancestors.filter((ancestor) => bindPidfd(ancestor, calls));
}
