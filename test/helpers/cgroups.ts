/** Real cgroups for tests (root only): made under a hierarchy, filled with fixture trees, removed. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath, readyLine } from '../fixture/fixture.js';
import { eventually, sleep } from './env.js';

export class TestCgroup {
  /** Every cgroup made by this process, for cleanup. */
  static readonly made: TestCgroup[] = [];
  /** Every process started inside one, for cleanup. */
  static readonly spawned: ChildProcess[] = [];
  readonly path: string;
  readonly v1: boolean;

  /** `name`: the directory's name (default: one unique to this process), made under `mount` (or a test cgroup's path). */
  constructor(mount: string, v1: boolean, name = `treefreeze-test-${process.pid}-${TestCgroup.made.length}`) {
    this.path = join(mount, name);
    this.v1 = v1;
    mkdirSync(this.path);
    TestCgroup.made.push(this);
  }

  pids(): number[] {
    return readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }

  frozen(): boolean {
    if (this.v1) return readFileSync(join(this.path, 'freezer.state'), 'utf8').trim() === 'FROZEN';
    return readFileSync(join(this.path, 'cgroup.events'), 'utf8').includes('frozen 1');
  }

  /** Starts the fixture already inside this cgroup (so every descendant is born in it). */
  async start(...args: (string | number)[]): Promise<{ root: number; pids: number[] }> {
    const script = `echo $$ > ${JSON.stringify(join(this.path, 'cgroup.procs'))} && exec "$0" "$@"`;
    const child = spawn('sh', ['-c', script, fixturePath(), ...args.map(String)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    TestCgroup.spawned.push(child);
    const line = await readyLine(child, `treefix ${args[0]} in ${this.path}`);
    const pids = line.split(' ').slice(1).map(Number);
    return { root: pids[0] as number, pids };
  }

  /** Thaws, kills everything inside, and removes the cgroup. */
  async remove(): Promise<void> {
    if (!existsSync(this.path)) return; // a test removed it already
    try {
      writeFileSync(join(this.path, this.v1 ? 'freezer.state' : 'cgroup.freeze'), this.v1 ? 'THAWED' : '0');
    } catch {
      // gone
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await eventually(() => this.pids().length === 0, 10_000);
    for (let attempt = 0; attempt < 50 && existsSync(this.path); attempt++) {
      try {
        rmdirSync(this.path);
      } catch {
        await sleep(20);
      }
    }
  }
}
