/** Reading processes independently of treefreeze's own /proc code (to check its results). */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export const isStoppedOrDead = (states: string) => /^[TtZX]*$/.test(states);
export const hasStopped = (states: string) => states.includes('T');

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
