/** Reading processes independently of treefreeze's own /proc code (to check its results). */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { parseStat } from '../../src/kernel/stat.js';

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

/** Whether no task of these states can run: each is stopped (T, t) or dead (Z, X); "" (gone) too. */
export const isStoppedOrDead = (states: string) => /^[TtZX]*$/.test(states);
/** Whether a task of these states is stopped (T). */
export const hasStopped = (states: string) => states.includes('T');

/**
 * Whether every one of `pids` is held: a task of it is stopped (T), and none can run (a
 * leader that exited while its threads are held reads Z). False for no pids at all, and for a
 * process that is gone or dead: a check of nothing must not pass for a frozen tree.
 */
export function allStopped(pids: readonly number[]): boolean {
  return (
    pids.length > 0 &&
    pids.every((pid) => {
      const states = taskStates(pid);
      return hasStopped(states) && isStoppedOrDead(states);
    })
  );
}

/** Those of `pids` that have a stopped task (T). */
export const stoppedAmong = (pids: readonly number[]) => pids.filter((pid) => hasStopped(taskStates(pid)));

/** Whether none of `pids` has a stopped task (T); a process that is gone has none. */
export const noneStopped = (pids: readonly number[]) => stoppedAmong(pids).length === 0;

/** Whether every one of `pids` exists and none has a stopped task: thawed, or never frozen, and alive. */
export const allRunning = (pids: readonly number[]) =>
  pids.length > 0 && pids.every((pid) => taskStates(pid) !== '') && noneStopped(pids);

/** "pid:states" for each of `pids` ("pid:gone" once it has exited), for assertion messages. */
export const statesOf = (pids: readonly number[]) =>
  pids.map((pid) => `${pid}:${taskStates(pid) || 'gone'}`).join(' ');

/** Fails, naming each process and its task states, unless every one of `pids` is held (allStopped). */
export function assertAllStopped(pids: readonly number[], what = 'every process is stopped'): void {
  assert.ok(allStopped(pids), `${what}: ${statesOf(pids)}`);
}

/** Fails, naming the stopped ones, if any of `pids` (but those in `except`) has a stopped task. */
export function assertNoneStopped(
  pids: readonly number[],
  what = 'no process is stopped',
  except: readonly number[] = [],
): void {
  const stopped = stoppedAmong(pids.filter((pid) => !except.includes(pid)));
  assert.deepEqual(stopped, [], `${what}: ${statesOf(stopped)}`);
}

/** Whether `pid` no longer exists (it was reaped). */
export const isGone = (pid: number) => !existsSync(`/proc/${pid}`);

/** The children of `pid` (default: this process), from each of its threads; [] once it is gone. */
export function childrenOf(pid: number | 'self' = 'self'): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** One open descriptor of this process. */
export interface Descriptor {
  fd: number;
  /** What /proc/self/fd/<fd> links to: a path, "pipe:[inode]", "anon_inode:[pidfd]"... */
  target: string;
  /**
   * The target with the inode (and, for a pidfd, the pid) from /proc/self/fdinfo/<fd>: two
   * descriptors with one number and one identity are the same open file, not a number reused.
   */
  identity: string;
}

/** This process's open descriptors now (the directory descriptor of the listing itself left out). */
export function openDescriptors(): Descriptor[] {
  const found: Descriptor[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      const info = readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
      const detail = info.split('\n').filter((line) => /^(ino|Pid):/.test(line));
      found.push({ fd: Number(name), target, identity: [target, ...detail].join(' ').replace(/\s+/g, ' ') });
    } catch {
      // closed while we looked (the listing's own descriptor is, by now)
    }
  }
  return found;
}

/**
 * What changed since `before`: the descriptors open now that were not open (as the same file)
 * then, and those open then that are closed now.
 */
export function descriptorChanges(before: readonly Descriptor[]): {
  opened: Descriptor[];
  closed: Descriptor[];
} {
  const key = (descriptor: Descriptor) => `${descriptor.fd} ${descriptor.identity}`;
  const now = openDescriptors();
  const then = new Set(before.map(key));
  const still = new Set(now.map(key));
  return {
    opened: now.filter((descriptor) => !then.has(key(descriptor))),
    closed: before.filter((descriptor) => !still.has(key(descriptor))),
  };
}

/**
 * Whether this process holds a run clock of `pid` open (/proc/<pid>/task/<tid>/schedstat): a
 * hold's check opens one at its first look at a process, and keeps it until the hold ends.
 */
export function runClockOpen(pid: number): boolean {
  const clock = new RegExp(`^/proc/${pid}/task/\\d+/schedstat$`);
  return openDescriptors().some((descriptor) => clock.test(descriptor.target));
}

/** A pid that does not exist right now. */
export function unusedPid(): number {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = pidMax - 1; pid > 1; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid');
}

/** recyclePid could not give the pid to a process of ours: another process took it first. */
export class PidNotRecycled extends Error {}

/**
 * Kills `pid` and starts a `sleep` that gets the same pid (through ns_last_pid; root only):
 * an impostor that must never be signalled by a freeze that discovered the original.
 * Throws PidNotRecycled when another process gets the pid first (a busy machine, or a second
 * copy of the suite, forks between our write and our fork): run the trial again then.
 */
export function recyclePid(pid: number): ChildProcess {
  process.kill(pid, 'SIGKILL');
  const until = Date.now() + 3000;
  while (taskStates(pid) !== '' && Date.now() < until) {
    // busy-wait: this runs inside a synchronous hook
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
    if (existsSync(`/proc/${pid}`)) break; // someone else's process has it now
  }
  throw new PidNotRecycled(`could not recycle pid ${pid}: another process took it first`);
}

/** Runs a trial that recycles a pid; again, up to `attempts` times in all, when the pid was taken first. */
export async function retryWhilePidTaken<T>(trial: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await trial();
    } catch (error) {
      if (!(error instanceof PidNotRecycled) || attempt >= attempts) throw error;
    }
  }
}

/** What a child printed, as it prints it, and how it ended. */
export interface ChildOutput {
  stdout: () => string;
  stderr: () => string;
  /** Settles when the child has ended and its output is complete; SIGKILLed after `deadlineMs`. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Collects a child's stdout and stderr until it ends, killing it after `deadlineMs` (a hang ends). */
export function collectOutput(child: ChildProcess, deadlineMs: number): ChildOutput {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (data) => {
    stdout += data;
  });
  child.stderr?.on('data', (data) => {
    stderr += data;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const done = new Promise<Awaited<ChildOutput['done']>>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { stdout: () => stdout, stderr: () => stderr, done };
}
