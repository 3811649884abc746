/**
 * Real services for the recipe tests (PostgreSQL, Redis): finding their programs, running
 * them (as another user where they insist), and ending exactly what the test started —
 * by process group or pid, never by name.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { parseStat } from '../../src/kernel/stat.js';
import { inCI } from './env.js';
import { collectOutput } from './proc.js';
import { killGroupOf, waitForGroupsGone } from './trees.js';
import { worldTraversableTmp } from './users.js';

/** Runs the test when `reason` is empty; else skips with it, but fails under CI=true (CI installs everything). */
export function skipUnlessAvailable(t: { skip: (message: string) => void }, reason: string): boolean {
  if (reason === '') return true;
  if (inCI)
    throw new Error(`CI must run this test (scripts/setup-system.sh installs what it needs): ${reason}`);
  t.skip(reason);
  return false;
}

/** Those of `names` found nowhere on PATH. */
export function missingCommands(...names: string[]): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return names.filter((name) => !dirs.some((dir) => isExecutable(join(dir, name))));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The newest PostgreSQL's bin directory (Debian keeps them off PATH, one per major version). */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(base, name, 'bin/pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

/** The uid and gid of a system user (as NSS knows it), or undefined when there is none. */
export function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

/** A TCP port free on the loopback address right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export interface RunAs {
  /** Run as this user (root only): PostgreSQL's programs refuse to run as root. */
  user?: { uid: number; gid: number };
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program to its end (SIGKILLed after `timeoutMs`): its code, output and wall time. */
export async function execute(
  file: string,
  args: string[],
  options: RunAs & { timeoutMs?: number } = {},
): Promise<Ran> {
  const started = performance.now();
  const child = spawnAs(file, args, options, false);
  const ended = await collectOutput(child, options.timeoutMs ?? 60_000).done;
  return { ...ended, ms: performance.now() - started };
}

/** A long-running program of the test's, in a session and process group of its own. */
export interface Service {
  child: ChildProcess;
  pid: number;
  /** Its stdout and stderr so far. */
  output(): string;
  /** Settles with its code (or 128+n) once it has exited. */
  exited: Promise<number>;
  /** SIGKILL to its whole process group, while that group is still surely its own. */
  kill(): void;
}

const started = new Set<Service>();
const madeDirs: string[] = [];

/**
 * Starts a program in its own session (a busy load generator cannot starve the test, and
 * the whole group can be killed at once); output() collects what it writes.
 */
export function startService(file: string, args: string[], options: RunAs = {}): Service {
  const child = spawnAs(file, args, options, true);
  let output = '';
  child.stdout?.on('data', (data) => {
    output += data;
  });
  child.stderr?.on('data', (data) => {
    output += data;
  });
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
  const service: Service = {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    exited,
    kill() {
      killGroupOf(child);
    },
  };
  started.add(service);
  return service;
}

function spawnAs(file: string, args: string[], options: RunAs, detached: boolean): ChildProcess {
  return spawn(file, args, {
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.user ?? {}),
    env: { ...process.env, ...options.env },
  });
}

/** How much disk `path` takes, in MiB (du -sm), for the tests' figures. */
export const diskMegabytes = (path: string): number =>
  Number(execFileSync('du', ['-sm', path], { encoding: 'utf8' }).split('\t')[0]);

/** A private temporary directory, owned by `user` when given, that other users can reach into. */
export function serviceDir(prefix: string, user?: { uid: number; gid: number }): string {
  const dir = mkdtempSync(join(worldTraversableTmp(), prefix));
  madeDirs.push(dir);
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

/** Kills every service this file started (by process group), removes its directories; returns what was still alive. */
export async function cleanupServices(): Promise<number[]> {
  const groups = [...started].map((service) => service.pid);
  for (const service of started) service.kill();
  started.clear();
  const left = await waitForGroupsGone(groups);
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  return left;
}

/**
 * `command` wrapped so that, once it has succeeded, the state of every task on the machine is
 * written to `file` — still under the hold when it is `run`'s command: the test can then see,
 * independently of treefreeze, that the whole tree was stopped while the command worked. The
 * wrapper exits with the command's code.
 */
export function withTaskSnapshot(command: string[], file: string): string[] {
  const script =
    'snapshot=$1; shift; "$@" || exit; grep -H "" /proc/[0-9]*/task/[0-9]*/stat >"$snapshot" 2>/dev/null; exit 0';
  return ['sh', '-c', script, 'sh', file, ...command];
}

/** From a snapshot (withTaskSnapshot), each process of the tree under `root` and its tasks' states ("TTT"). */
export function treeStatesIn(snapshot: string, root: number): Map<number, string> {
  const parents = new Map<number, number>();
  const states = new Map<number, string>();
  for (const line of snapshot.split('\n')) {
    const match = /^\/proc\/(\d+)\/task\/(\d+)\/stat:(.*)$/.exec(line);
    if (!match) continue;
    const pid = Number(match[1]);
    const stat = parseStat(match[3] as string);
    if (Number(match[2]) === pid) parents.set(pid, stat.ppid);
    states.set(pid, (states.get(pid) ?? '') + stat.state);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++)
    for (const [pid, ppid] of parents) if (ppid === tree[i] && !tree.includes(pid)) tree.push(pid);
  return new Map(tree.filter((pid) => states.has(pid)).map((pid) => [pid, states.get(pid) as string]));
}
