/**
 * The trees the bench freezes: the C fixture (test/fixture/treefix.c) started in a shape and
 * stopped again, with every process the bench starts tracked so an exit or a signal kills it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readTaskStates } from '../src/kernel/procfs.js';
import { listTree } from '../src/tree/discovery.js';
import { fixturePath, readyLine } from '../test/fixture/fixture.js';

/** A tree's shape: processes x threads, spinning or asleep, and how many repetitions it gets. */
export interface Shape {
  name: string;
  processes: number;
  threads: number;
  spin: boolean;
  reps: number;
}

/** Every process the bench started (trees and floors), for stopStartedTrees. */
const started: ChildProcess[] = [];

/** Tracks a process the bench started, so stopStartedTrees ends it. */
export function track(child: ChildProcess): void {
  started.push(child);
}

export async function startTree(shape: Shape, ownSession = true): Promise<{ root: number; pids: number[] }> {
  const args = ['tree', String(shape.processes), String(shape.threads), ...(shape.spin ? ['spin'] : [])];
  // CPU-bound trees in their own session (autogroup), or they starve everything else.
  const child = spawn(fixturePath(), args, { detached: ownSession, stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  const line = await readyLine(child, `treefix ${args.join(' ')}`);
  const pids = line.split(' ').slice(1).map(Number);
  return { root: pids[0] as number, pids };
}

export function stopTree(root: number): void {
  // A tree in its own session is a process group; one in ours is killed pid by pid.
  const pids = listTree(root).map((node) => node.pid);
  try {
    process.kill(-root, 'SIGKILL');
  } catch {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  for (const child of started) if (child.pid === root) child.stdout?.destroy();
}

/** Kills every tracked process still running (and its tree). */
export function stopStartedTrees(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        stopTree(child.pid as number);
      } catch {
        // gone
      }
    }
  }
}

/** Whether every task of every pid reads stopped. */
export function allStopped(pids: number[]): boolean {
  return pids.every((pid) => (readTaskStates(pid) ?? []).every((task) => task.state === 'T'));
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
