/**
 * The kernel's own freezer as a contender: move the tree into a fresh cgroup v2,
 * write cgroup.freeze, and confirm through cgroup.events ("frozen 1").
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Contender, timeFreezeAndThaw } from './contender.js';

/** The cgroup v2 mount (pure v2 or the hybrid "unified" one), or null. */
export function cgroupV2Mount(): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash > 0 && fields[dash + 1] === 'cgroup2') return fields[4] ?? null;
  }
  return null;
}

/** Where the bench makes its cgroups: the v2 mount when it runs as root, else null (no cgroup contender). */
export const benchCgroupMount = process.getuid?.() === 0 ? cgroupV2Mount() : null;

/** The cgroups made and not yet removed, for removeLeftCgroups. */
const made = new Set<BenchCgroup>();

/** Removes every cgroup the bench made and did not remove (on exit, or on a signal). */
export function removeLeftCgroups(): void {
  for (const cgroup of made) cgroup.remove();
}

export class BenchCgroup {
  readonly path: string;

  constructor(mount: string, name: string) {
    this.path = join(mount, name);
    if (!existsSync(this.path)) mkdirSync(this.path);
    made.add(this);
  }

  adopt(pids: number[]): void {
    for (const pid of pids) {
      try {
        writeFileSync(join(this.path, 'cgroup.procs'), String(pid));
      } catch {
        // exited
      }
    }
  }

  private frozen(): boolean {
    return readFileSync(join(this.path, 'cgroup.events'), 'utf8').includes('frozen 1');
  }

  private async settle(wantFrozen: boolean): Promise<void> {
    const until = performance.now() + 10_000;
    while (this.frozen() !== wantFrozen) {
      if (performance.now() > until)
        throw new Error(`cgroup ${this.path} did not ${wantFrozen ? 'freeze' : 'thaw'}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async freeze(): Promise<void> {
    writeFileSync(join(this.path, 'cgroup.freeze'), '1');
    await this.settle(true);
  }

  async thaw(): Promise<void> {
    writeFileSync(join(this.path, 'cgroup.freeze'), '0');
    await this.settle(false);
  }

  /** Moves every process back to the parent and removes the cgroup. */
  remove(): void {
    made.delete(this);
    try {
      writeFileSync(join(this.path, 'cgroup.freeze'), '0');
      const parent = join(this.path, '..', 'cgroup.procs');
      for (const pid of readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(parent, pid);
        } catch {
          // exited
        }
      }
      rmdirSync(this.path);
    } catch {
      // best effort; the caller checks for leftovers
    }
  }
}

export const cgroupV2Contender: Contender = {
  name: 'cgroup v2',
  async enter(_root, pids) {
    if (!benchCgroupMount) return null;
    const cgroup = new BenchCgroup(benchCgroupMount, `treefreeze-bench-${process.pid}`);
    cgroup.adopt(pids);
    return {
      // No check of the tasks: "frozen 1" in cgroup.events is the kernel's own confirmation.
      freezeAndThaw: () =>
        timeFreezeAndThaw('cgroup v2', async () => {
          await cgroup.freeze();
          return { thaw: () => cgroup.thaw() };
        }),
      close: () => cgroup.remove(),
    };
  },
};
