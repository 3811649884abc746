/**
 * A straightforward TypeScript rendition of crosvm vmm-swap's process freezer (the
 * freezer it uses before moving guest memory), the reference treefreeze is measured
 * against because it is the hand-written approach treefreeze replaces: read the tree
 * from the main thread's `children` files, SIGSTOP every process, poll each task's
 * `stat` (parsed at the FIRST ')') until it reads T — 10 tries, 50 ms apart — and
 * re-read the tree up to 3 times if it changed. Faults included on purpose. Below it, the
 * bench contender that runs it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type Contender, timeFreezeAndThaw } from './contender.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function mainThreadChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendants(root: number): number[] {
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of mainThreadChildren(pid)) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The state letter the way the reference reads it: right after the first ')'. */
function firstParenState(text: string): string {
  return text.slice(text.indexOf(')') + 2, text.indexOf(')') + 3);
}

async function waitStopped(pid: number): Promise<void> {
  const tids = readdirSync(`/proc/${pid}/task`);
  for (const tid of tids) {
    for (let attempt = 0; ; attempt++) {
      const state = firstParenState(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      if (state === 'T') break;
      if (attempt === 9) throw new Error(`reference: ${pid}/${tid} did not stop`);
      await sleep(50);
    }
  }
}

export interface ReferenceFreeze {
  pids: number[];
  thaw(): void;
}

/** Freezes the descendants of `root` (and root itself) the reference way. */
export async function referenceFreeze(root: number): Promise<ReferenceFreeze> {
  let pids: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = [root, ...descendants(root)];
    const fresh = current.filter((pid) => !pids.includes(pid));
    for (const pid of fresh) process.kill(pid, 'SIGSTOP');
    pids = current;
    for (const pid of pids) await waitStopped(pid);
    const again = [root, ...descendants(root)];
    if (again.length === pids.length && again.every((pid) => pids.includes(pid))) break;
  }
  return {
    pids,
    thaw() {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    },
  };
}

export const referenceContender: Contender = {
  name: 'reference',
  async enter(root, pids) {
    return {
      freezeAndThaw: () => timeFreezeAndThaw('reference', () => referenceFreeze(root), pids),
      close() {},
    };
  },
};
