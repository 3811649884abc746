/**
 * The one place a hold is assembled, for every backend: the twin watchdogs are started first
 * (their start overlaps the backend's first reads), handed to the backend as its safety net before
 * anything is stopped, confirmed running before the freeze resolves, and given the lease;
 * the handle then keeps it. A freeze that fails is rolled back before it rejects.
 */
import type { BackendFreeze, GuardedProcess } from '../backends/contract.js';
import { pastDeadline } from '../base/errors.js';
import { sealProtection } from '../watchdog/lease.js';
import { isWatchdogProcess, ownWatchdogPids } from '../watchdog/own-watchdogs.js';
import { acquireTwinWatchdogs, type TwinWatchdogs } from '../watchdog/twins.js';
import { JoinedHolds } from './claim-query.js';
import { claimingNet, HoldClaim } from './claims.js';
import { FrozenTreeHandle } from './handle.js';
import { PhaseClock } from './phases.js';
import type { HoldPlan } from './plan.js';

/** How a backend tells watchdogs (ours and other freezers') from the tree it freezes. */
export const watchdogProcesses = { own: ownWatchdogPids, isOne: isWatchdogProcess };

/**
 * Freezes with `backend` under `plan`'s protection. `watchdogMayBeInTree`: the tree is this
 * process's own descendants, where its watchdog is too: then its exact pid is awaited.
 */
export async function holdWith(
  plan: HoldPlan,
  backend: BackendFreeze,
  watchdogMayBeInTree = false,
): Promise<FrozenTreeHandle> {
  const starting = plan.watchdog
    ? acquireTwinWatchdogs(plan.platform, plan.deadline, watchdogMayBeInTree)
    : undefined;
  starting?.catch(() => {}); // awaited below; never an unhandled rejection
  const phases = new PhaseClock(plan.knobs.profile && { started: plan.started, report: plan.knobs.profile });
  phases.mark('watchdog spawn');
  let watchdog: TwinWatchdogs | undefined;
  const safetyNet = async () => {
    watchdog ??= await starting;
    return watchdog;
  };
  // Known machine-wide from before the first stop: a second freezer asks it (claims.ts).
  const claim = new HoldClaim(
    plan.knobs.claimLabel ?? (() => `${process.title} (pid ${process.pid})`),
    plan.platform,
  );
  const joined = new JoinedHolds();
  const net = claimingNet(claim, () => watchdog);
  let handle: FrozenTreeHandle;
  try {
    const context = {
      deadline: plan.deadline,
      signal: plan.signal,
      safetyNet: async () => {
        await safetyNet();
        return net;
      },
      refuseHeld: (processes: readonly GuardedProcess[]) =>
        joined.settle(processes, plan.deadline, plan.join),
      join: plan.join,
      phase: phases.mark,
    };
    const stopped = await backend.stop(context);
    // Stamped here, not when the handle is ready: on a loaded machine the rest (the watchdog
    // confirmed, the handle built, the event written) can take a second, and the hold began now.
    const stoppedAt = Date.now();
    // Never resolve unprotected: the watchdog must really run (usually long done).
    await sealProtection(await safetyNet(), plan.maxHoldMs);
    phases.mark('other');
    handle = new FrozenTreeHandle({ plan, backend, stopped, stoppedAt, watchdog, claim, joined, net });
  } catch (error) {
    backend.rollback(error); // guarantee 2: a rejected freeze leaves nothing stopped
    claim.close();
    joined.release();
    watchdog ??= await starting?.catch(() => undefined);
    watchdog?.dismiss();
    throw performance.now() >= plan.deadline ? pastDeadline(error, plan.timeoutMs) : error;
  }
  phases.mark('handle');
  phases.report(); // after the try: a profiler that throws must not roll back a held tree
  return handle;
}
