/**
 * The registry attack: what another local user can plant for root's `status` and `thaw <id>`,
 * checked from outside (signals logged, files, wall time, peak memory, raw control characters).
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DAEMON,
  eventually,
  hasStopped,
  makeUsersRegistry,
  NOBODY,
  plantAs,
  plantedRecord,
  runMeasured,
  startFakeHolder,
  startSignalLogger,
  taskStates,
} from '../../test/helpers/index.js';
import { type Kind, random } from '../kind.js';

/** A byte no output meant for a terminal may carry raw: every control character but the line end. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/;
/** A label that would clear the screen, retitle the terminal, start a line and reverse the rest. */
const HOSTILE_LABEL = 'postgres (pid 812)\x1b[2J\x1b]0;owned\x07\r\n\u202e\x9b31m';

const ATTACKS = [
  'holder record',
  'path traversal',
  'FIFO',
  '/dev/zero link',
  'sparse record',
  'null or not JSON',
  'fake holder',
  'link to another user’s socket',
] as const;
type Attack = (typeof ATTACKS)[number];

/** What a fake holder answers: a valid-looking lie, a refusal, garbage, a hang-up, or nothing. */
const FAKE_ANSWERS = ['lie', 'error', 'null', 'close', 'silent'] as const;

const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;

/** The start time (field 22 of /proc/<pid>/stat) of a process. */
function startTimeOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** Live processes whose command line mentions any of `marks` (what a run started, by its paths). */
function processesMentioning(marks: string[]): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const line = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (marks.some((mark) => line.includes(mark)) && !/^[ZX]*$/.test(taskStates(Number(name))))
        found.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/**
 * Another local user (nobody or daemon) plants one or two hostile entries in their own runtime
 * directory (sometimes also, as garbage, in root's own), and root runs `status`, `status --json`,
 * `thaw <planted id>` or `thaw <random id>` in a mount namespace whose /run/user and
 * /run/treefreeze are this run's directories. Everything is checked from outside.
 */
export const registryAttack: Kind = {
  name: 'registry attack',
  what: 'one or two of: a record naming a root process (that logs every signal) as its holder, with a hostile label; a stale record whose id is a path to a root-owned file; a FIFO, a link to /dev/zero or a 600 MB sparse file named like a record or a socket; a record that is null or not JSON; a fake holder (run as that user) that lies, refuses, hangs up or never answers; a socket that is a link to another user’s holder — planted by nobody or daemon in their runtime directory (the files sometimes also in root’s own); then root’s `status`, `status --json`, `thaw <planted id>` or `thaw <random id>` (one or two of them): nothing signalled or stopped, nothing deleted, each command done within 2 s under 100 MiB with its exit code (0, or 1 for a thaw of no real hold), no stack trace, no raw control character',
  runs: 100,
  needsRoot: true,
  async run() {
    const violations: string[] = [];
    const figures: Record<string, number[]> = { 'command wall': [], 'peak RSS (MiB)': [] };
    const users = makeUsersRegistry([NOBODY, DAEMON]);
    const rootDir = mkdtempSync(join(tmpdir(), 'treefreeze-soak-root-')); // root's own registry (0700)
    const marks = [users.base, rootDir];
    const started: { pid: number; kill: () => void }[] = [];
    let logger: Awaited<ReturnType<typeof startSignalLogger>> | undefined;
    let secret: string | undefined;
    /** The ids planted, and whether a thaw of it may succeed (a fake holder's valid-looking answer). */
    const planted: { id: string; mayEnd: boolean }[] = [];
    /** What was planted in users' directories: root must never remove any of it. */
    const theirs: string[] = [];
    const ids = new Set<string>();
    const newId = () => {
      for (;;) {
        const id = `tf-${randomBytes(3).toString('hex')}`;
        if (!ids.has(id)) {
          ids.add(id);
          return id;
        }
      }
    };
    const theLogger = async () => {
      logger ??= await startSignalLogger();
      return logger;
    };
    const fakeHolder = async (uid: number, id: string, answer: (typeof FAKE_ANSWERS)[number]) => {
      const path = join(users.dirOf(uid), `${id}.sock`);
      const target = await theLogger();
      const lie = plantedRecord(id, {
        holder: { pid: target.pid, startTime: startTimeOf(target.pid) },
        targets: [{ spec: '1', kind: 'pid', root: 1, cgroup: null, label: HOSTILE_LABEL }],
        pids: [1, target.pid],
      });
      const said = {
        lie: { record: lie, outcome: { intact: true, breaches: 0, heldMs: 5, reason: 'request\x1b[2J' } },
        error: { error: `not permitted\x1b[2J\u202e${HOSTILE_LABEL}` },
        null: null,
        close: 'close',
        silent: 'silent',
      }[answer];
      started.push(await startFakeHolder(uid, path, said));
      theirs.push(path);
      planted.push({ id, mayEnd: answer === 'lie' });
    };
    const commands: string[][] = [];
    const chosen: string[] = [];
    try {
      const attacks = [pick(ATTACKS), ...(Math.random() < 0.5 ? [pick(ATTACKS)] : [])];
      for (const attack of attacks as Attack[]) {
        const uid = pick([NOBODY, DAEMON]);
        const other = uid === NOBODY ? DAEMON : NOBODY;
        const id = newId();
        const suffix = pick(['.json', '.sock']);
        const alsoRoot = Math.random() < 1 / 3;
        let entry: { name: string; what: Parameters<typeof plantAs>[2] } | undefined;
        if (attack === 'holder record') {
          const target = await theLogger();
          const startTime = Math.random() < 0.5 ? startTimeOf(target.pid) : 1; // running, or stale
          const record = plantedRecord(id, {
            holder: { pid: target.pid, startTime },
            targets: [{ spec: '812', kind: 'pid', root: 812, cgroup: null, label: HOSTILE_LABEL }],
            pids: [target.pid],
          });
          entry = { name: `${id}.json`, what: { text: JSON.stringify(record) } };
        } else if (attack === 'path traversal') {
          secret ??= mkdtempSync(join(tmpdir(), 'treefreeze-secret-'));
          writeFileSync(join(secret, 'important.json'), 'keep me');
          const traversal = `../../../../../../../../..${secret}/important`;
          const stale = { holder: { pid: 999_999_999, startTime: 1 } };
          entry = { name: `${id}.json`, what: { text: JSON.stringify(plantedRecord(traversal, stale)) } };
        } else if (attack === 'FIFO') entry = { name: `${id}${suffix}`, what: { fifo: true } };
        else if (attack === '/dev/zero link')
          entry = { name: `${id}${suffix}`, what: { symlinkTo: '/dev/zero' } };
        else if (attack === 'sparse record')
          entry = { name: `${id}${suffix}`, what: { sparseBytes: 600 * 1024 * 1024 } };
        else if (attack === 'null or not JSON') {
          const text = pick([
            'null',
            '{"id": "tf-',
            '[]',
            `"${HOSTILE_LABEL}"`,
            randomBytes(64).toString('latin1'),
          ]);
          entry = { name: `${id}.json`, what: { text } };
        } else if (attack === 'fake holder') {
          const answer = pick(FAKE_ANSWERS);
          await fakeHolder(uid, id, answer);
          chosen.push(`${attack} (${answer}, uid ${uid})`);
          continue;
        } else {
          // A listener of the other user's, and a link to it where this user's socket would be.
          const answer = pick(FAKE_ANSWERS);
          const otherId = newId();
          await fakeHolder(other, otherId, answer);
          const link = join(users.dirOf(uid), `${id}.sock`);
          plantAs(uid, link, { symlinkTo: join(users.dirOf(other), `${otherId}.sock`) });
          theirs.push(link);
          planted.push({ id, mayEnd: false });
          chosen.push(`${attack} (${answer}, uid ${uid} to uid ${other})`);
          continue;
        }
        const path = join(users.dirOf(uid), entry.name);
        plantAs(uid, path, entry.what);
        theirs.push(path);
        if (alsoRoot) plantAs(0, join(rootDir, entry.name), entry.what);
        planted.push({ id, mayEnd: false });
        chosen.push(`${attack} (${entry.name}, uid ${uid}${alsoRoot ? ', and root' : ''})`);
      }
      const choices = [['status'], ['status', '--json'], ['thaw', pick(planted).id], ['thaw', newId()]];
      const first = random(choices.length);
      commands.push(choices[first] as string[]);
      if (Math.random() < 0.5)
        commands.push(choices[(first + 1 + random(choices.length - 1)) % choices.length] as string[]);
      for (const args of commands) {
        const said = `${args.join(' ')} beside ${chosen.join(' + ')}`;
        const result = await runMeasured(args, {
          machine: { users: users.base, root: rootDir },
          deadlineMs: 10_000,
        });
        if (result.code === null) violations.push(`${said}: still running at 10 s, killed`);
        else if (result.wallMs >= 2000) violations.push(`${said}: took ${result.wallMs.toFixed(0)} ms`);
        if (result.code !== null && !Number.isFinite(result.peakMiB))
          violations.push(`${said}: no peak memory reported`);
        if (result.peakMiB >= 100) violations.push(`${said}: peak RSS ${result.peakMiB.toFixed(1)} MiB`);
        const mayEnd = args[0] === 'thaw' && planted.some((hold) => hold.id === args[1] && hold.mayEnd);
        const expected = args[0] === 'status' ? [0] : mayEnd ? [0, 1] : [1];
        if (result.code !== null && !expected.includes(result.code))
          violations.push(
            `${said}: exit code ${result.code}: ${JSON.stringify(result.stderr.trim().slice(0, 300))}`,
          );
        if (/unexpected error|TypeError|RangeError|\n\s+at \S/.test(result.stderr))
          violations.push(`${said}: a stack trace: ${JSON.stringify(result.stderr.trim().slice(0, 300))}`);
        const raw = new Set(
          [...(result.stdout + result.stderr).replace(/\n/g, '')]
            .filter((char) => RAW_CONTROL.test(char))
            .map((char) => `U+${char.charCodeAt(0).toString(16).padStart(4, '0')}`),
        );
        if (raw.size > 0)
          violations.push(`${said}: raw control characters in its output: ${[...raw].join(' ')}`);
        if (result.code !== null) figures['command wall']?.push(result.wallMs);
        if (Number.isFinite(result.peakMiB)) figures['peak RSS (MiB)']?.push(result.peakMiB);
        // From outside: the named process, the root-owned file, the other users' entries.
        if (logger) {
          const signals = logger.signals();
          if (signals.length > 0)
            violations.push(`${said}: the named process received ${signals.join(', ')}`);
          const states = taskStates(logger.pid);
          if (states === '') violations.push(`${said}: the named process is gone`);
          else if (hasStopped(states)) violations.push(`${said}: the named process is stopped`);
        }
        if (secret !== undefined && !existsSync(join(secret, 'important.json')))
          violations.push(`${said}: a root-owned file outside the registry was deleted`);
        for (const path of theirs) {
          try {
            lstatSync(path);
          } catch {
            violations.push(`${said}: root removed another user's ${path}`);
          }
        }
      }
    } finally {
      // Only what this run started, by pid; then its directories.
      for (const holder of started) holder.kill();
      logger?.kill();
      const pids = [...started.map((holder) => holder.pid), ...(logger ? [logger.pid] : [])];
      if (!(await eventually(() => pids.every((pid) => /^[ZX]*$/.test(taskStates(pid))), 3000)))
        violations.push(`left running: ${pids.filter((pid) => !/^[ZX]*$/.test(taskStates(pid)))}`);
      users.remove();
      rmSync(rootDir, { recursive: true, force: true });
      if (secret !== undefined) rmSync(secret, { recursive: true, force: true });
    }
    const left = processesMentioning(marks);
    if (left.length > 0) {
      violations.push(`processes of the run left behind: ${left.join(', ')}`);
      for (const pid of left) process.kill(pid, 'SIGKILL');
    }
    return { violations, figures };
  },
};
