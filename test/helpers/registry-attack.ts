/**
 * What another local user can do to the registry of holds, made real: runtime directories of
 * real system users (nobody, daemon) under a base of the test's own, entries planted there as
 * that user would (records, FIFOs, symbolic links, huge files, fake holder sockets), a root
 * process that logs every signal it receives, and the command line run as root or as a user.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath } from './cli.js';
import { collectOutput } from './proc.js';

export const NOBODY = 65534;
/** A second system user, present on every Debian system. */
export const DAEMON = 1;

/** <base>/<uid>/treefreeze for each user, as /run/user/<uid>/treefreeze would be. */
export function makeUsersRegistry(uids: number[]): {
  base: string;
  dirOf: (uid: number) => string;
  remove: () => void;
} {
  const base = mkdtempSync(join(tmpdir(), 'treefreeze-users-'));
  chmodSync(base, 0o755);
  for (const uid of uids) {
    for (const dir of [join(base, String(uid)), join(base, String(uid), 'treefreeze')]) {
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, uid, uid);
    }
  }
  return {
    base,
    dirOf: (uid) => join(base, String(uid), 'treefreeze'),
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** A hold's record as a holder writes it, with some fields replaced (what an attacker starts from). */
export function plantedRecord(id: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    holder: { pid: process.pid, startTime: 1 },
    command: 'freeze',
    detached: true,
    targets: [{ spec: '812', kind: 'pid', root: 812, cgroup: null, label: 'postgres (pid 812)' }],
    backend: 'signal',
    pids: [812],
    threads: 1,
    since: Date.now(),
    leaseEndsAt: null,
    forEndsAt: null,
    intact: true,
    breaches: 0,
    ...fields,
  };
}

export type Planted = { text: string } | { fifo: true } | { symlinkTo: string } | { sparseBytes: number };

/** Makes `path` as user `uid` would have made it (root makes it, then gives it to them). */
export function plantAs(uid: number, path: string, what: Planted): void {
  if ('text' in what) writeFileSync(path, what.text, { mode: 0o600 });
  else if ('fifo' in what) spawnSyncOk('mkfifo', ['-m', '600', path]);
  else if ('symlinkTo' in what) symlinkSync(what.symlinkTo, path);
  else {
    writeFileSync(path, '{"id":"tf-');
    truncateSync(path, what.sparseBytes);
  }
  lchownSync(path, uid, uid);
}

function spawnSyncOk(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
}

/** A process (of root's, in its own session) that writes the name of every signal it gets to a file. */
export async function startSignalLogger(): Promise<{
  pid: number;
  signals: () => string[];
  kill: () => void;
}> {
  const log = join(mkdtempSync(join(tmpdir(), 'treefreeze-signals-')), 'log');
  writeFileSync(log, '');
  const script = `
    const fs = require('node:fs');
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGCONT', 'SIGQUIT'])
      process.on(s, () => fs.appendFileSync(${JSON.stringify(log)}, s + '\\n'));
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, ['-e', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  killedAtExit(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', () => reject(new Error('the signal logger exited')));
  });
  return {
    pid: child.pid as number,
    signals: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    kill: () => {
      child.kill('SIGKILL');
      rmSync(join(log, '..'), { recursive: true, force: true });
    },
  };
}

/**
 * A holder impostor run as `uid`: listens on `path` and answers every request with `answer`
 * (or closes without a word, says nothing at all, or stalls: accepts again and again, forever).
 */
export async function startFakeHolder(
  uid: number,
  path: string | string[],
  answer: unknown | 'close' | 'silent' | 'stall',
): Promise<{ pid: number; kill: () => void }> {
  // The answer comes on stdin: it may be larger than an argument may be.
  const script = `
    const { answer, paths } = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    let listening = 0;
    // A described record whose id is '*' takes the id of the socket it is told on.
    const ownId = (answer, path) => answer?.record?.id !== '*' ? answer
      : { ...answer, record: { ...answer.record, id: /(tf-[0-9a-f]{6})\\.sock$/.exec(path)[1] } };
    for (const path of paths)
      require('node:net').createServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          if (answer === 'close') socket.destroy();
          else if (answer === 'stall') setInterval(() => socket.write('{"accepted":true}\\n'), 200);
          else if (answer !== 'silent') socket.end(JSON.stringify(ownId(answer, path)) + '\\n');
        });
      }).listen(path, () => ++listening === paths.length && process.stdout.write('ready\\n'));`;
  const child = spawn(process.execPath, ['-e', script], {
    uid,
    gid: uid,
    cwd: '/',
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  killedAtExit(child);
  child.stdin?.end(JSON.stringify({ answer, paths: [path].flat() }));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the fake holder exited (${code})`)));
  });
  return { pid: child.pid as number, kill: () => child.kill('SIGKILL') };
}

/** Whatever a test file started here is killed when it exits, even if a test was cancelled. */
function killedAtExit(child: ChildProcess): void {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
}

export interface MeasuredRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** The command's peak resident memory, in MiB. */
  peakMiB: number;
}

/**
 * Runs the built CLI (as root, or as `uid` with a staged copy) and measures its wall time and
 * peak memory; killed after `deadlineMs` (then `code` is null).
 */
export async function runMeasured(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    uid?: number;
    cli?: string;
    deadlineMs?: number;
    /** Run as root in a mount namespace whose /run/user and /run/treefreeze are these directories. */
    machine?: { users: string; root: string };
  } = {},
): Promise<MeasuredRun> {
  const cli = options.cli ?? cliPath;
  const wrapper = `import { writeSync } from 'node:fs';
process.on('exit', () => writeSync(2, '\\npeak-kib ' + process.resourceUsage().maxRSS + '\\n'));
await import(${JSON.stringify(cli)});`;
  const started = performance.now();
  const node = [process.execPath, '--input-type=module', '-e', wrapper, 'cli', ...args];
  // The default places, as on a real machine, without touching the machine's own /run.
  const mountScript =
    'mount -t tmpfs treefreeze-test /run && mkdir /run/user /run/treefreeze && ' +
    'mount --bind "$1" /run/user && mount --bind "$2" /run/treefreeze && shift 2 && exec "$@"';
  const [command, ...commandArgs] = options.machine
    ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', mountScript, 'sh'].concat(
        [options.machine.users, options.machine.root],
        node,
      )
    : node;
  const machineEnv = options.machine ? { TREEFREEZE_RUNTIME_DIR: '', XDG_RUNTIME_DIR: '' } : {};
  const child: ChildProcess = spawn(command as string, commandArgs, {
    env: { ...process.env, NO_COLOR: '1', ...machineEnv, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: '/',
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  killedAtExit(child);
  const { code, stdout, stderr } = await collectOutput(child, options.deadlineMs ?? 20_000).done;
  const wallMs = performance.now() - started;
  const peak = /\npeak-kib (\d+)\n$/.exec(stderr);
  return {
    code,
    stdout,
    stderr: peak ? stderr.slice(0, peak.index) : stderr,
    wallMs,
    peakMiB: peak ? Number(peak[1]) / 1024 : Number.NaN,
  };
}
