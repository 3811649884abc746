/**
 * Verifying a cgroup hold: the freezer's control file must keep its frozen value. Read at
 * every interval (one small read) and, on v2, at once whenever cgroup.events changes (the
 * kernel raises a modify event when "frozen" flips). A process that moves into a frozen
 * cgroup is frozen by the kernel: not a breach. A cgroup left empty (its processes killed) or
 * removed ends the hold: nothing is left to hold.
 */
import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import { onTick } from '../../base/timers.js';
import { cgroupPids, type ResolvedCgroup, readCgroupFile, writeCgroupFile } from '../../kernel/cgroupfs.js';
import type { BreachLog, BreachPolicy, HoldCheck } from '../breach.js';
import { FROZEN_VALUE, isFrozen, readTrimmed, THAWED_VALUE, waitFrozen } from './state.js';

export interface CgroupHoldCheckOptions {
  cgroup: ResolvedCgroup;
  policy: BreachPolicy;
  intervalMs: number;
  timeoutMs: number;
  log: BreachLog;
  /** The hold refreezes a cgroup that was frozen before it: from then on the thaw thaws it. */
  adopt: () => void;
  /** The cgroup is empty or removed: nothing is left to hold. */
  onExited: () => void;
}

type Occupancy = 'populated' | 'empty' | 'removed' | 'unknown';

/** Whether any process is left in the cgroup or below it, or the cgroup was removed (a container torn down). */
function occupancy(cgroup: ResolvedCgroup): Occupancy {
  try {
    if (cgroup.version === 'cgroup-v1') {
      if (readCgroupFile(join(cgroup.path, 'cgroup.procs')) === null) return 'removed';
      return cgroupPids(cgroup.path).length === 0 ? 'empty' : 'populated';
    }
    const events = readCgroupFile(join(cgroup.path, 'cgroup.events')); // one read, descendants included
    if (events === null) return 'removed';
    return /^populated 0$/m.test(events) ? 'empty' : 'populated';
  } catch {
    return 'unknown'; // unreadable for another reason
  }
}

/** Starts checking; stop() takes one last look. */
export function startCgroupHoldCheck(options: CgroupHoldCheckOptions): HoldCheck {
  const { cgroup, log } = options;
  const abort = new AbortController();
  let stopped = false;
  let busy = false;
  /** Whether the open breach's refreeze was written (its wait may have run out before it took). */
  let refreezeWritten = false;
  /** Whether a process was ever seen in it: only then does an empty cgroup end the hold. */
  let populated = occupancy(cgroup) === 'populated';
  const thawedNow = () => readTrimmed(cgroup.control) === THAWED_VALUE[cgroup.version];

  const check = async () => {
    if (stopped || busy) return;
    busy = true;
    try {
      // Ended when it is removed, or emptied after holding processes (a hold of a cgroup empty
      // from the start holds what moves in later).
      const now = occupancy(cgroup);
      if (now === 'populated') populated = true;
      if (now === 'removed' || (now === 'empty' && populated)) {
        setImmediate(() => stopped || options.onExited());
        return;
      }
      if (thawedNow()) {
        refreezeWritten = false;
        log.record('cgroup-thawed', cgroupPids(cgroup.path));
        if (options.policy !== 'refreeze') return;
        options.adopt();
        writeCgroupFile(cgroup.control, FROZEN_VALUE[cgroup.version]);
        refreezeWritten = true;
        await waitFrozen(cgroup, abort.signal, performance.now() + options.timeoutMs);
        if (!stopped) log.end(true);
      } else if (log.open && isFrozen(cgroup)) {
        // Frozen again: by our write, once a refreeze outlived its wait, or by someone else.
        log.end(refreezeWritten);
      } else if (!log.open) {
        log.markIntact();
      }
    } catch {
      // Removed, unreadable, or the refreeze timed out: the next check looks again.
    } finally {
      busy = false;
    }
  };

  let watcher: FSWatcher | undefined;
  if (cgroup.version === 'cgroup-v2') {
    try {
      watcher = watch(join(cgroup.path, 'cgroup.events'), () => void check());
      watcher.unref();
    } catch {
      watcher = undefined; // the interval alone
    }
  }
  const untick = onTick(options.intervalMs, () => void check());

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      untick();
      watcher?.close();
      abort.abort(new Error('the hold ended'));
      try {
        if (thawedNow()) log.record('cgroup-thawed', cgroupPids(cgroup.path), 'thaw');
      } catch {
        // the thaw goes on whatever this last look could not read
      }
      log.end(false);
    },
  };
}
