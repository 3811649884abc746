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
  type MeasuredRun,
  makeUsersRegistry,
  NOBODY,
  type Planted,
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
/** The attacks that plant one file (the others start a fake holder). */
type FileAttack = Exclude<Attack, 'fake holder' | 'link to another user’s socket'>;

/** What a fake holder answers: a valid-looking lie, a refusal, garbage, a hang-up, or nothing. */
const FAKE_ANSWERS = ['lie', 'error', 'null', 'close', 'silent'] as const;
type FakeAnswer = (typeof FAKE_ANSWERS)[number];

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
 * One run's stage: the users' registries and root's, what was planted there, what was started.
 * Everything planted is recorded here, so the checks and the teardown see all of it.
 */
class Stage {
  readonly users = makeUsersRegistry([NOBODY, DAEMON]);
  /** Root's own registry (0700). */
  readonly rootDir = mkdtempSync(join(tmpdir(), 'treefreeze-soak-root-'));
  /** What a process of this run has on its command line: its directories. */
  readonly marks = [this.users.base, this.rootDir];
  /** The ids planted, and whether a thaw of it may succeed (a fake holder's valid-looking answer). */
  readonly planted: { id: string; mayEnd: boolean }[] = [];
  /** What was planted in users' directories: root must never remove any of it. */
  readonly theirs: string[] = [];
  /** The attacks as they were chosen, to name them in a violation. */
  readonly chosen: string[] = [];
  readonly #started: { pid: number; kill: () => void }[] = [];
  readonly #ids = new Set<string>();
  logger: Awaited<ReturnType<typeof startSignalLogger>> | undefined;
  /** A root-owned directory outside the registry, made by the first path traversal. */
  secret: string | undefined;

  newId(): string {
    for (;;) {
      const id = `tf-${randomBytes(3).toString('hex')}`;
      if (!this.#ids.has(id)) {
        this.#ids.add(id);
        return id;
      }
    }
  }

  /** The root process that logs every signal it receives, started once per run. */
  async theLogger() {
    this.logger ??= await startSignalLogger();
    return this.logger;
  }

  /** A listener, run as `uid`, at the socket of `id`, that answers `answer` naming the logger. */
  async fakeHolder(uid: number, id: string, answer: FakeAnswer): Promise<void> {
    const path = join(this.users.dirOf(uid), `${id}.sock`);
    const target = await this.theLogger();
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
    this.#started.push(await startFakeHolder(uid, path, said));
    this.theirs.push(path);
    this.planted.push({ id, mayEnd: answer === 'lie' });
  }

  /** Plants one attack as nobody or daemon (a file attack sometimes also in root's own directory). */
  async plant(attack: Attack): Promise<void> {
    const uid = pick([NOBODY, DAEMON]);
    const other = uid === NOBODY ? DAEMON : NOBODY;
    const id = this.newId();
    const suffix = pick(['.json', '.sock']);
    const alsoRoot = Math.random() < 1 / 3;
    if (attack === 'fake holder') {
      const answer = pick(FAKE_ANSWERS);
      await this.fakeHolder(uid, id, answer);
      this.chosen.push(`${attack} (${answer}, uid ${uid})`);
    } else if (attack === 'link to another user’s socket') {
      // A listener of the other user's, and a link to it where this user's socket would be.
      const answer = pick(FAKE_ANSWERS);
      const otherId = this.newId();
      await this.fakeHolder(other, otherId, answer);
      const link = join(this.users.dirOf(uid), `${id}.sock`);
      plantAs(uid, link, { symlinkTo: join(this.users.dirOf(other), `${otherId}.sock`) });
      this.theirs.push(link);
      this.planted.push({ id, mayEnd: false });
      this.chosen.push(`${attack} (${answer}, uid ${uid} to uid ${other})`);
    } else {
      const entry = await this.entryFor(attack, id, suffix);
      const path = join(this.users.dirOf(uid), entry.name);
      plantAs(uid, path, entry.what);
      this.theirs.push(path);
      if (alsoRoot) plantAs(0, join(this.rootDir, entry.name), entry.what);
      this.planted.push({ id, mayEnd: false });
      this.chosen.push(`${attack} (${entry.name}, uid ${uid}${alsoRoot ? ', and root' : ''})`);
    }
  }

  /** The file a file attack plants: its name in the registry, and what it is. */
  async entryFor(attack: FileAttack, id: string, suffix: string): Promise<{ name: string; what: Planted }> {
    if (attack === 'holder record') {
      const target = await this.theLogger();
      const startTime = Math.random() < 0.5 ? startTimeOf(target.pid) : 1; // running, or stale
      const record = plantedRecord(id, {
        holder: { pid: target.pid, startTime },
        targets: [{ spec: '812', kind: 'pid', root: 812, cgroup: null, label: HOSTILE_LABEL }],
        pids: [target.pid],
      });
      return { name: `${id}.json`, what: { text: JSON.stringify(record) } };
    }
    if (attack === 'path traversal') {
      this.secret ??= mkdtempSync(join(tmpdir(), 'treefreeze-secret-'));
      writeFileSync(join(this.secret, 'important.json'), 'keep me');
      const traversal = `../../../../../../../../..${this.secret}/important`;
      const stale = { holder: { pid: 999_999_999, startTime: 1 } };
      return { name: `${id}.json`, what: { text: JSON.stringify(plantedRecord(traversal, stale)) } };
    }
    if (attack === 'FIFO') return { name: `${id}${suffix}`, what: { fifo: true } };
    if (attack === '/dev/zero link') return { name: `${id}${suffix}`, what: { symlinkTo: '/dev/zero' } };
    if (attack === 'sparse record')
      return { name: `${id}${suffix}`, what: { sparseBytes: 600 * 1024 * 1024 } };
    const text = pick([
      'null',
      '{"id": "tf-',
      '[]',
      `"${HOSTILE_LABEL}"`,
      randomBytes(64).toString('latin1'),
    ]);
    return { name: `${id}.json`, what: { text } };
  }

  /** One or two of root's commands: `status`, `status --json`, `thaw <planted id>`, `thaw <random id>`. */
  chooseCommands(): string[][] {
    const choices = [
      ['status'],
      ['status', '--json'],
      ['thaw', pick(this.planted).id],
      ['thaw', this.newId()],
    ];
    const first = random(choices.length);
    const commands = [choices[first] as string[]];
    if (Math.random() < 0.5)
      commands.push(choices[(first + 1 + random(choices.length - 1)) % choices.length] as string[]);
    return commands;
  }

  /** Harm seen from outside: the named process signalled or stopped, a root file or a user's entry gone. */
  harmDone(said: string): string[] {
    const violations: string[] = [];
    if (this.logger) {
      const signals = this.logger.signals();
      if (signals.length > 0) violations.push(`${said}: the named process received ${signals.join(', ')}`);
      const states = taskStates(this.logger.pid);
      if (states === '') violations.push(`${said}: the named process is gone`);
      else if (hasStopped(states)) violations.push(`${said}: the named process is stopped`);
    }
    if (this.secret !== undefined && !existsSync(join(this.secret, 'important.json')))
      violations.push(`${said}: a root-owned file outside the registry was deleted`);
    for (const path of this.theirs) {
      try {
        lstatSync(path);
      } catch {
        violations.push(`${said}: root removed another user's ${path}`);
      }
    }
    return violations;
  }

  /** Ends what this run started, by pid, then removes its directories; anything left running is a violation. */
  async tearDown(): Promise<string[]> {
    for (const holder of this.#started) holder.kill();
    this.logger?.kill();
    const pids = [...this.#started.map((holder) => holder.pid), ...(this.logger ? [this.logger.pid] : [])];
    const violations: string[] = [];
    if (!(await eventually(() => pids.every((pid) => /^[ZX]*$/.test(taskStates(pid))), 3000)))
      violations.push(`left running: ${pids.filter((pid) => !/^[ZX]*$/.test(taskStates(pid)))}`);
    this.users.remove();
    rmSync(this.rootDir, { recursive: true, force: true });
    if (this.secret !== undefined) rmSync(this.secret, { recursive: true, force: true });
    return violations;
  }
}

/** What is wrong with one command's run: too slow, too big, a wrong exit code, a stack trace, raw control characters. */
function commandViolations(said: string, result: MeasuredRun, expected: number[]): string[] {
  const violations: string[] = [];
  if (result.code === null) violations.push(`${said}: still running at 10 s, killed`);
  else if (result.wallMs >= 2000) violations.push(`${said}: took ${result.wallMs.toFixed(0)} ms`);
  if (result.code !== null && !Number.isFinite(result.peakMiB))
    violations.push(`${said}: no peak memory reported`);
  if (result.peakMiB >= 100) violations.push(`${said}: peak RSS ${result.peakMiB.toFixed(1)} MiB`);
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
  if (raw.size > 0) violations.push(`${said}: raw control characters in its output: ${[...raw].join(' ')}`);
  return violations;
}

/** Runs one of root's commands on the stage and checks it, and what it did, from outside. */
async function runCommand(
  stage: Stage,
  args: string[],
  figures: Record<string, number[]>,
): Promise<string[]> {
  const said = `${args.join(' ')} beside ${stage.chosen.join(' + ')}`;
  const result = await runMeasured(args, {
    machine: { users: stage.users.base, root: stage.rootDir },
    deadlineMs: 10_000,
  });
  const mayEnd = args[0] === 'thaw' && stage.planted.some((hold) => hold.id === args[1] && hold.mayEnd);
  const expected = args[0] === 'status' ? [0] : mayEnd ? [0, 1] : [1];
  if (result.code !== null) figures['command wall']?.push(result.wallMs);
  if (Number.isFinite(result.peakMiB)) figures['peak RSS (MiB)']?.push(result.peakMiB);
  return [...commandViolations(said, result, expected), ...stage.harmDone(said)];
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
    const stage = new Stage();
    try {
      const attacks = [pick(ATTACKS), ...(Math.random() < 0.5 ? [pick(ATTACKS)] : [])];
      for (const attack of attacks) await stage.plant(attack);
      for (const args of stage.chooseCommands()) violations.push(...(await runCommand(stage, args, figures)));
    } finally {
      violations.push(...(await stage.tearDown()));
    }
    const left = processesMentioning(stage.marks);
    if (left.length > 0) {
      violations.push(`processes of the run left behind: ${left.join(', ')}`);
      for (const pid of left) process.kill(pid, 'SIGKILL');
    }
    return { violations, figures };
  },
};
