/**
 * Trial kinds: the safety net outlives whatever takes the freezer down — its whole cgroup
 * killed (cgroup.kill), a watchdog and then the freezer SIGKILLed milliseconds apart, the
 * freezer's whole process group or session SIGKILLed. Every time, the tree runs again.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import { eventually, startTree, TestCgroup } from '../../test/helpers/index.js';
import { resumed } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import type { Kind, Outcome } from '../kind.js';

type Freezer = ReturnType<typeof startFreezer>;

/** Holds a fresh tree with `freezer`, takes it down with `strike`, and checks the tree runs again. */
async function trial(
  start: (root: number) => Freezer,
  strike: (freezer: Freezer, report: { watchdogs: number[] }) => void,
  figure: string,
): Promise<Outcome> {
  const tree = await startTree('tree', 4, 2);
  const freezer = start(tree.root);
  const violations: string[] = [];
  const figures: Record<string, number> = {};
  if (!(await eventually(() => freezer.lines.length >= 2, 10_000))) violations.push('never froze');
  const report = JSON.parse(freezer.lines[1] ?? '{"watchdogs":[]}') as { watchdogs: number[] };
  const struckAt = performance.now();
  strike(freezer, report);
  const result = await resumed(tree.root, struckAt);
  if ('left' in result) violations.push(`left stopped: ${result.left.join(', ')}`);
  else figures[figure] = result.ms;
  freezer.child.kill('SIGKILL');
  tree.kill();
  return { violations, figures };
}

export const freezerCgroupKilled: Kind = {
  name: "cgroup.kill of the freezer's cgroup",
  what: 'the freezer runs in a v2 cgroup of its own, killed with cgroup.kill while it holds a tree outside it: its watchdogs live outside that cgroup and resume the tree',
  runs: 50,
  needsRoot: true,
  async run() {
    const { v2 } = findCgroupMounts();
    if (!v2) return { violations: [], figures: {}, skipped: true };
    const cgroup = new TestCgroup(v2, false);
    try {
      return await trial(
        (root) => startFreezer(['hold', String(root), '{}'], { cgroup: cgroup.path }),
        () => writeFileSync(join(cgroup.path, 'cgroup.kill'), '1'),
        'resumed after cgroup.kill',
      );
    } finally {
      await cgroup.remove();
    }
  },
};

/** A watchdog SIGKILLed, then the freezer `gapMs` later: the twin resumes the tree. */
export function watchdogKilledThenFreezer(gapMs: number): Kind {
  return {
    name: `watchdog SIGKILL, freezer SIGKILL ${gapMs} ms later`,
    what: `one of the two watchdogs SIGKILLed while holding, the freezer SIGKILLed ${gapMs} ms later, before a replacement is briefed: the other resumes the tree`,
    runs: 20,
    run: () =>
      trial(
        (root) => startFreezer(['hold', String(root), '{}']),
        (freezer, { watchdogs }) => {
          if (watchdogs[0] !== undefined) process.kill(watchdogs[0], 'SIGKILL');
          for (const until = performance.now() + gapMs; performance.now() < until; ) {
            // a tight wait: the gap is milliseconds
          }
          freezer.child.kill('SIGKILL');
        },
        'resumed after the freezer SIGKILL',
      ),
  };
}

/** The pids of every process in session `sid`. */
function sessionMembers(sid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      if (Number(fields[3]) === sid) members.push(Number(name));
    } catch {
      // gone
    }
  }
  return members;
}

/** The freezer's whole process group, or its whole session, SIGKILLed (a sibling in it too). */
export function freezerGroupKilled(what: 'process group' | 'session'): Kind {
  return {
    name: `SIGKILL of the freezer's ${what}`,
    what: `the freezer leads a ${what} with a sibling process, and every member is SIGKILLed at once: its watchdogs, in a session of their own, resume the tree`,
    runs: 25,
    run: () =>
      trial(
        (root) => startFreezer(['hold', String(root), '{}'], { detached: true, withSibling: true }),
        (freezer) => {
          const leader = freezer.child.pid as number;
          if (what === 'process group') process.kill(-leader, 'SIGKILL');
          else for (const pid of sessionMembers(leader)) process.kill(pid, 'SIGKILL');
        },
        `resumed after the ${what} SIGKILL`,
      ),
  };
}
