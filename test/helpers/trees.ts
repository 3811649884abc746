/**
 * Real process trees built with the C fixture, each in its own session and process
 * group, cleaned up by process group (never by name).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseStat } from '../../src/kernel/stat.js';
import { fixturePath, readyLine } from '../fixture/fixture.js';
import { sleep } from './env.js';

export interface TestTree {
  /** The fixture's own pid: the root of the tree, leader of its own session and process group. */
  root: number;
  /** The pids the fixture reported (root first). */
  pids: number[];
  child: ChildProcess;
  kill(): void;
}

const started = new Set<TestTree>();

/** Starts `treefix <mode> ...args` in its own session and waits for its ready line. */
export async function startTree(mode: string, ...args: (string | number)[]): Promise<TestTree> {
  const child = spawn(fixturePath(), [mode, ...args.map(String)], {
    detached: true, // setsid: own session and process group, so a CPU-bound tree cannot starve us
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const tree: TestTree = {
    root: child.pid ?? -1,
    pids: [],
    child,
    kill() {
      killGroupOf(child);
      started.delete(tree);
    },
  };
  started.add(tree);
  const line = await readyLine(child, `treefix ${mode}`);
  tree.pids = line.split(' ').slice(1).map(Number);
  return tree;
}

/**
 * SIGKILL the process group `leader` leads (works on stopped processes too) — only while
 * that group id cannot have been recycled. A group id stays pinned while its leader is
 * our unreaped child, or while any member lives; once the leader is reaped and the group
 * empty, another process (another test suite's tree or watchdog) may become the leader
 * of a new group with the same id, and must never be hit. So: kill while the leader is
 * ours and unreaped; after that, only if no process has taken the leader's pid.
 */
export function killGroupOf(leader: ChildProcess): void {
  const pgid = leader.pid;
  if (pgid === undefined || pgid <= 1) return;
  const unreaped = leader.exitCode === null && leader.signalCode === null;
  if (!unreaped && existsSync(`/proc/${pgid}`)) return; // the pid is someone else's now
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Kills every tree this test file started; call from after(). Returns what was still alive. */
export async function cleanupTrees(): Promise<number[]> {
  const groups = [...started].map((tree) => tree.root);
  for (const tree of [...started]) tree.kill();
  return waitForGroupsGone(groups);
}

/** Waits (bounded) until no process of these process groups is left; returns leftovers. */
export async function waitForGroupsGone(groups: number[], deadlineMs = 5000): Promise<number[]> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const left = processesInGroups(groups).filter((stat) => stat.state !== 'Z');
    if (left.length === 0 || Date.now() > until) return left.map((stat) => stat.pid);
    await sleep(20);
  }
}

export function processesInGroups(groups: number[]) {
  const wanted = new Set(groups);
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (wanted.has(stat.pgrp)) found.push(stat);
    } catch {
      // exited while we looked
    }
  }
  return found;
}
