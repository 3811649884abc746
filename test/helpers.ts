/**
 * Test helpers: build real process trees with the C fixture, read their states,
 * and clean up by process group (never by name).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStat } from '../src/stat.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtureSource = join(repoRoot, 'test/fixture/treefix.c');
const fixtureBinary = join(repoRoot, 'test/fixture/build/treefix');

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

/** For root-only tests: skips with the reason when not root, but fails under CI=true (CI runs as root). */
export function requireRoot(t: { skip: (message: string) => void }, why: string): boolean {
  if (isRoot) return true;
  if (inCI) throw new Error(`CI runs as root, but this is not root: ${why}`);
  t.skip(why);
  return false;
}

/** Compiles the fixture when it is missing or older than its source. */
export function fixturePath(): string {
  if (!existsSync(fixtureBinary) || statSync(fixtureBinary).mtimeMs < statSync(fixtureSource).mtimeMs) {
    mkdirSync(dirname(fixtureBinary), { recursive: true });
    execFileSync('cc', ['-O1', '-Wall', '-pthread', '-o', fixtureBinary, fixtureSource], {
      stdio: 'inherit',
    });
  }
  return fixtureBinary;
}

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
      killGroup(tree.root);
      started.delete(tree);
    },
  };
  started.add(tree);
  const line = await readyLine(child, `treefix ${mode}`);
  tree.pids = line.split(' ').slice(1).map(Number);
  return tree;
}

/** The first line a child prints on stdout (the fixture's "ready ..." line), within 10 s. */
export function readyLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${what} not ready after 10 s`)), 10_000);
    child.stdout?.on('data', (data: Buffer) => {
      buffered += data.toString();
      const end = buffered.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        resolve(buffered.slice(0, end));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready`));
    });
  });
}

export const cliPath = join(repoRoot, 'dist/cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the built CLI as a separate process (NO_COLOR set); `done` settles when it exits (killed after 30 s). */
export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (data) => {
    stdout += data;
  });
  child.stderr?.on('data', (data) => {
    stderr += data;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export const runCli = (args: string[]) => startCli(args).done;

/** Every watchdog process on the system (they name themselves in their argv). */
export function watchdogProcesses(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('treefreeze-watchdog'))
        found.push(Number(name));
    } catch {
      // exited
    }
  }
  return found;
}

/** SIGKILL a whole process group (works on stopped processes too). */
export function killGroup(pgid: number): void {
  if (pgid <= 1) return;
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

/** The state letters of every task of `pid`, e.g. "TTTT"; "" when the process is gone. */
export function taskStates(pid: number): string {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map((tid) => {
        try {
          return parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')).state;
        } catch {
          return '';
        }
      })
      .join('');
  } catch {
    return '';
  }
}

/** Every pid in the process tree under root (root included), by a full ppid scan. */
export function descendantsByScan(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
      const list = children.get(stat.ppid) ?? [];
      list.push(stat.pid);
      children.set(stat.ppid, list);
    } catch {
      // exited
    }
  }
  const result = [root];
  for (let i = 0; i < result.length; i++) result.push(...(children.get(result[i] as number) ?? []));
  return result;
}

export const isStoppedOrDead = (states: string) => /^[TtZX]*$/.test(states);
export const hasStopped = (states: string) => states.includes('T');

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds or the deadline passes (then returns false). */
export async function eventually(condition: () => boolean, deadlineMs = 3000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await sleep(5);
  }
  return true;
}

/** A pid that does not exist right now. */
export function unusedPid(): number {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = pidMax - 1; pid > 1; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid');
}

/**
 * A copy of the built library and the test's freezing script that another user can read:
 * the checkout may sit in a private directory (mode 0700, as `mktemp -d` or root's home
 * make it), where a process running as `nobody` could not even load the script.
 * Returns the script's path in the copy; `remove()` deletes the copy.
 */
export function stageForOtherUser(): { script: string; remove: () => void } {
  const stage = mkdtempSync(join(worldTraversableTmp(), 'treefreeze-stage-'));
  try {
    cpSync(join(repoRoot, 'dist'), join(stage, 'dist'), { recursive: true });
    cpSync(join(repoRoot, 'package.json'), join(stage, 'package.json'));
    cpSync(join(repoRoot, 'test/scripts'), join(stage, 'test/scripts'), { recursive: true });
    // The optional native binding, so the other user takes the same (pidfd) path as the tests.
    const koffi = join(repoRoot, 'node_modules/koffi');
    if (existsSync(koffi)) cpSync(koffi, join(stage, 'node_modules/koffi'), { recursive: true });
    makeWorldReadable(stage);
  } catch (error) {
    rmSync(stage, { recursive: true, force: true });
    throw error;
  }
  return {
    script: join(stage, 'test/scripts/freeze-child.mjs'),
    remove: () => rmSync(stage, { recursive: true, force: true }),
  };
}

/** os.tmpdir() when every user can reach into it (TMPDIR may be private), else /tmp. */
function worldTraversableTmp(): string {
  const candidate = tmpdir();
  let dir = candidate;
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) return '/tmp';
    const parent = dirname(dir);
    if (parent === dir) return candidate;
    dir = parent;
  }
}

function makeWorldReadable(path: string): void {
  const stat = statSync(path);
  chmodSync(path, stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o755 : 0o644);
  if (stat.isDirectory()) for (const name of readdirSync(path)) makeWorldReadable(join(path, name));
}
