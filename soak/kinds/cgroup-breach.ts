/** Trial kind: a held cgroup (v2 or v1) thawed behind the freezer's back. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freezeCgroup } from '../../src/index.js';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import { eventually, sleep, TestCgroup } from '../../test/helpers/index.js';
import { type Kind, random } from '../kind.js';

/** Someone thaws a held cgroup: noticed and frozen again. */
export function cgroupBreach(version: 'v2' | 'v1'): Kind {
  return {
    name: `cgroup ${version}: thawed during the hold`,
    what: `the thawed value written to a held ${version} cgroup at a random moment: frozen again, the breach reported`,
    runs: 20,
    needsRoot: true,
    async run() {
      const mounts = findCgroupMounts();
      const mount = version === 'v2' ? mounts.v2 : mounts.v1Freezer;
      if (!mount) return { violations: [], figures: {}, skipped: true };
      const cgroup = new TestCgroup(mount, version === 'v1');
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      try {
        await cgroup.start('tree', 3, 1);
        const frozen = await freezeCgroup(cgroup.path);
        await sleep(random(200));
        const sentAt = performance.now();
        writeFileSync(
          join(cgroup.path, version === 'v2' ? 'cgroup.freeze' : 'freezer.state'),
          version === 'v2' ? '0' : 'THAWED',
        );
        await eventually(() => !cgroup.frozen(), 200);
        if (await eventually(() => cgroup.frozen(), 2000))
          figures['frozen again'] = performance.now() - sentAt;
        else violations.push('not frozen again within 2 s');
        await frozen.thaw();
        if (frozen.intact) violations.push('the breach was not reported');
        if (cgroup.frozen()) violations.push('left frozen after the thaw');
      } finally {
        await cgroup.remove();
      }
      return { violations, figures };
    },
  };
}
