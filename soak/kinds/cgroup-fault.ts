/** Trial kind: a cgroup (v2 or v1) whose freezer is SIGKILLed, or which is removed while frozen. */
import { rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freezeCgroup } from '../../src/index.js';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import { eventually, sleep, TestCgroup } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import type { Kind } from '../kind.js';

/** A cgroup freezer SIGKILLed while holding, or a cgroup removed while frozen. */
export function cgroupFault(version: 'v2' | 'v1', fault: 'freezer killed' | 'removed'): Kind {
  return {
    name: `cgroup ${version}: ${fault}`,
    what:
      fault === 'freezer killed'
        ? `a ${version} cgroup held by a freezer that is SIGKILLed: the watchdog thaws it`
        : `a frozen ${version} cgroup emptied (its tasks moved out) and removed while frozen: thaw succeeds, nothing left stopped`,
    runs: fault === 'removed' ? 10 : 20,
    needsRoot: true,
    async run() {
      const mounts = findCgroupMounts();
      const mount = version === 'v2' ? mounts.v2 : mounts.v1Freezer;
      if (!mount) return { violations: [], figures: {}, skipped: true };
      const cgroup = new TestCgroup(mount, version === 'v1');
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      try {
        const { pids } = await cgroup.start('tree', 3, 1);
        if (fault === 'freezer killed') {
          const freezer = startFreezer(['hold-cgroup', cgroup.path]);
          if (!(await eventually(() => freezer.lines.length >= 1, 10_000))) violations.push('never froze');
          if (!cgroup.frozen()) violations.push('not frozen');
          const killedAt = performance.now();
          freezer.child.kill('SIGKILL');
          await freezer.closed;
          if (await eventually(() => !cgroup.frozen(), 5000))
            figures['thaw after SIGKILL'] = performance.now() - killedAt;
          else violations.push('left frozen');
        } else {
          // As a runtime tearing a cgroup down does: move its tasks out (which thaws them
          // on both versions; a v1 cgroup holding tasks cannot be removed while frozen), remove it.
          const frozen = await freezeCgroup(cgroup.path);
          for (const pid of pids) writeFileSync(join(mount, 'cgroup.procs'), String(pid));
          rmdirSync(cgroup.path);
          try {
            await frozen.thaw();
          } catch (error) {
            violations.push(`thaw of a removed cgroup failed: ${String(error)}`);
          }
          await sleep(20);
          if (stoppedOf(pids).length > 0) violations.push('its processes were left stopped');
          for (const pid of pids) process.kill(pid, 'SIGKILL');
        }
      } finally {
        await cgroup.remove();
      }
      return { violations, figures };
    },
  };
}
