/** Running the built command line as a separate process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freshBuild } from './build.js';
import { repoRoot } from './env.js';

export const cliPath = join(repoRoot, 'dist/cli.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What the CLI wrote on its file descriptor 3 (a pipe: give it `--json-fd 3`). */
  fd3: string;
}

/** Starts the built CLI as a separate process (NO_COLOR set); `done` settles when it exits (killed after 30 s). */
export function startCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: 'pipe'; ownPidNamespace?: boolean } = {},
): {
  child: ChildProcess;
  done: Promise<CliResult>;
  stdout: () => string;
  stderr: () => string;
  fd3: () => string;
} {
  freshBuild();
  // In a pid namespace of its own (with its own /proc), "pid 1" is the CLI itself: a test
  // can name pid 1 and, were a refusal ever broken, stop nothing it did not start.
  const [command, ...prefix] = options.ownPidNamespace
    ? [
        'unshare',
        ...(process.getuid?.() === 0 ? [] : ['--user', '--map-root-user']),
        '--pid',
        '--fork',
        '--mount-proc',
        process.execPath,
      ]
    : [process.execPath];
  const child = spawn(command as string, [...prefix, cliPath, ...args], {
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  let fd3 = '';
  (child.stdio[3] as NodeJS.ReadableStream | null)?.on('data', (data) => {
    fd3 += data;
  });
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
      resolve({ code, signal, stdout, stderr, fd3 });
    });
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr, fd3: () => fd3 };
}

export const runCli = (args: string[]) => startCli(args).done;

/** runCli in a pid namespace of its own, where pid 1 is the CLI itself (see startCli). */
export const runCliAlone = (args: string[]) => startCli(args, { ownPidNamespace: true }).done;
