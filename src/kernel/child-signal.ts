/**
 * Signalling a child process Node started. Never one whose spawn failed: Node keeps the handle
 * of a failed spawn (ENOENT), and ChildProcess.kill() then signals pid 0 — the caller's own
 * process group. A watchdog shell that could not start was "killed" that way, and took down the
 * test runner and everything in its group (caught with a kill() logger: kill(0, SIGKILL)).
 */
import type { ChildProcess } from 'node:child_process';

export function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  const { pid } = child;
  if (pid === undefined || pid <= 1 || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
}
