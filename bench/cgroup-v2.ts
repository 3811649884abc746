/**
 * The kernel's own freezer as a contender: move the tree into a fresh cgroup v2,
 * write cgroup.freeze, and confirm through cgroup.events ("frozen 1").
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup v2 mount (pure v2 or the hybrid "unified" one), or null. */
export function cgroupV2Mount(): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash > 0 && fields[dash + 1] === 'cgroup2') return fields[4] ?? null;
  }
  return null;
}

export class BenchCgroup {
  readonly path: string;

  constructor(mount: string, name: string) {
    this.path = join(mount, name);
    if (!existsSync(this.path)) mkdirSync(this.path);
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
