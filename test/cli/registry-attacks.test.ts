/**
 * The registry of holds on a shared machine: what a second local user (nobody, daemon) can
 * plant in their own runtime directory or in a shared one, and what root's `status` and
 * `thaw <id>` then do. Every outcome is checked from outside: a root process that logs the
 * signals it receives, the files on disk, the command's own wall time and peak memory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  cleanupTrees,
  DAEMON,
  eventually,
  hasStopped,
  inCI,
  isRoot,
  makeUsersRegistry,
  NOBODY,
  parseEvents,
  plantAs,
  plantedRecord,
  runMeasured,
  runningHolders,
  stageForOtherUser,
  startFakeHolder,
  startSignalLogger,
  taskStates,
  testRuntimeDir,
} from '../helpers/index.js';

const T = { timeout: 90_000 };
/** A byte no output meant for a terminal may carry raw: every control character but the line end. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/;
const HOSTILE_LABEL = 'postgres (pid 812)\x1b[2J\x1b]0;owned\x07\r\n\u202e';

let users: ReturnType<typeof makeUsersRegistry>;
let staged: ReturnType<typeof stageForOtherUser>;
const holders = new Set<number>();

before(() => {
  if (!isRoot) return;
  users = makeUsersRegistry([NOBODY, DAEMON]);
  staged = stageForOtherUser();
});

after(async () => {
  for (const pid of runningHolders(holders)) process.kill(pid, 'SIGTERM');
  assert.ok(await eventually(() => runningHolders(holders).length === 0, 10_000), 'no holder left');
  users?.remove();
  staged?.remove();
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

function rootOnly(t: { skip: (why: string) => void }): boolean {
  if (isRoot) return true;
  assert.ok(!inCI, 'CI runs as root');
  t.skip('needs root and a second user');
  return false;
}

/**
 * Root's command line with the machine's default places: /run/user is the test users' base
 * and /run/treefreeze this file's own registry (in a mount namespace of its own).
 */
const asRoot = (args: string[], deadlineMs = 20_000) =>
  runMeasured(args, { machine: { users: users.base, root: testRuntimeDir }, deadlineMs });

/** A planted record's text. */
const record = (id: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify(plantedRecord(id, fields));

function assertPrintable(text: string, what: string): void {
  assert.doesNotMatch(text, RAW_CONTROL, `${what} carries a raw control character: ${JSON.stringify(text)}`);
}

describe('a record planted by another user', () => {
  test("root's status and thaw never signal the process it names as its holder", T, async (t) => {
    if (!rootOnly(t)) return;
    const logger = await startSignalLogger();
    t.after(logger.kill);
    const stat = readFileSync(`/proc/${logger.pid}/stat`, 'utf8');
    const startTime = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    for (const uid of [NOBODY, DAEMON]) {
      const id = uid === NOBODY ? 'tf-a1a1a1' : 'tf-a2a2a2';
      const planted = record(id, {
        holder: { pid: logger.pid, startTime },
        targets: [{ spec: '812', kind: 'pid', root: 812, cgroup: null, label: HOSTILE_LABEL }],
      });
      plantAs(uid, join(users.dirOf(uid), `${id}.json`), { text: planted });
      const status = await asRoot(['status', '--json']);
      assert.equal(status.code, 0, status.stderr);
      const listed = JSON.parse(status.stdout).holds.map((hold: { id: string }) => hold.id);
      assert.ok(!listed.includes(id), `status lists the planted ${id} as a hold`);
      const human = await asRoot(['status']);
      assertPrintable(human.stdout + human.stderr, 'status');
      const thaw = await asRoot(['thaw', id]);
      assert.equal(thaw.code, 1, thaw.stderr);
      assert.match(thaw.stderr, new RegExp(`no hold ${id}`));
    }
    assert.deepEqual(logger.signals(), [], 'the named process received a signal');
    assert.ok(!hasStopped(taskStates(logger.pid)), 'and it runs');
  });

  test('an id that is a path makes nobody delete anything, in or out of the registry', T, async (t) => {
    if (!rootOnly(t)) return;
    const secret = mkdtempSync(join(tmpdir(), 'treefreeze-secret-'));
    t.after(() => rmSync(secret, { recursive: true, force: true }));
    const important = join(secret, 'important.json');
    writeFileSync(important, 'keep me');
    const traversal = `../../../../../../../../..${secret}/important`;
    // Stale (its holder is gone): the old status removed `${id}.json` of every stale record.
    const stale = { holder: { pid: 999_999_999, startTime: 1 } };
    plantAs(NOBODY, join(users.dirOf(NOBODY), 'tf-d1d1d1.json'), { text: record(traversal, stale) });
    // The same in root's own registry, as garbage would be: skipped, not followed.
    writeFileSync(join(testRuntimeDir, 'tf-d2d2d2.json'), record(traversal, stale));
    t.after(() => rmSync(join(testRuntimeDir, 'tf-d2d2d2.json'), { force: true }));
    for (const args of [['status'], ['status', '--json'], ['thaw', 'tf-d1d1d1'], ['thaw', 'tf-d2d2d2']]) {
      const result = await asRoot(args);
      assert.notEqual(result.code, null, `${args.join(' ')} hung`);
      assert.ok(existsSync(important), `${args.join(' ')} deleted a file outside the registry`);
    }
    assert.ok(existsSync(join(users.dirOf(NOBODY), 'tf-d1d1d1.json')), "root removed another user's file");
    const status = await asRoot(['status']);
    assert.match(status.stderr, /skipped .*tf-d2d2d2\.json: no valid id/);
  });
});

describe('entries that would hang or exhaust a reader', () => {
  const plants: [string, Parameters<typeof plantAs>[2]][] = [
    ['a FIFO named like a record', { fifo: true }],
    ['a symbolic link to /dev/zero', { symlinkTo: '/dev/zero' }],
    ['a 600 MB sparse record', { sparseBytes: 600 * 1024 * 1024 }],
    ['a record that is null', { text: 'null' }],
    ['a record that is not JSON', { text: '{"id": "tf-' }],
    ['a directory named like a record', { text: '' }],
  ];
  for (const [index, [what, plant]] of plants.entries()) {
    test(
      `${what}: root's status and thaw finish within 2 s, under 100 MiB, without a crash`,
      T,
      async (t) => {
        if (!rootOnly(t)) return;
        const id = `tf-e0e0${index.toString(16).padStart(2, '0')}`;
        const places = [
          { uid: NOBODY, dir: users.dirOf(NOBODY) },
          { uid: 0, dir: testRuntimeDir },
        ];
        for (const { uid, dir } of places) {
          for (const suffix of ['.json', '.sock']) {
            const path = join(dir, `${id}${suffix}`);
            if (what.startsWith('a directory')) {
              mkdirSync(path);
              chownSync(path, uid, uid);
            } else plantAs(uid, path, plant);
            t.after(() => rmSync(path, { recursive: true, force: true }));
          }
        }
        for (const args of [['status'], ['status', '--json'], ['thaw', id], ['thaw', 'tf-ffffff']]) {
          const result = await asRoot(args, 10_000);
          t.diagnostic(`${args.join(' ')}: ${result.wallMs.toFixed(0)} ms, ${result.peakMiB.toFixed(1)} MiB`);
          assert.notEqual(result.code, null, `${args.join(' ')} hung beside ${what}`);
          assert.ok(result.wallMs < 2_000, `${args.join(' ')} took ${result.wallMs.toFixed(0)} ms`);
          assert.ok(result.peakMiB < 100, `${args.join(' ')} used ${result.peakMiB.toFixed(1)} MiB`);
          assert.doesNotMatch(result.stderr, /unexpected error|TypeError|\n {4}at /, result.stderr);
          assertPrintable(result.stdout + result.stderr, args.join(' '));
          if (args[0] === 'status') assert.equal(result.code, 0, result.stderr);
          else assert.equal(result.code, 1, result.stderr);
        }
      },
    );
  }
});

describe("another user's holder, as root sees it", () => {
  test(
    'a fake holder: listed as its user’s, with the pid the kernel gives; thaw signals nobody',
    T,
    async (t) => {
      if (!rootOnly(t)) return;
      const logger = await startSignalLogger();
      t.after(logger.kill);
      const id = 'tf-b1b1b1';
      const path = join(users.dirOf(NOBODY), `${id}.sock`);
      const lie = JSON.parse(
        record(id, {
          holder: { pid: logger.pid, startTime: 1 },
          targets: [{ spec: '1', kind: 'pid', root: 1, cgroup: null, label: HOSTILE_LABEL }],
          pids: [1, logger.pid],
        }),
      );
      const fake = await startFakeHolder(NOBODY, path, {
        record: lie,
        outcome: { intact: true, breaches: 0, heldMs: 5, reason: 'request\x1b[2J' },
      });
      t.after(fake.kill);
      t.after(() => rmSync(path, { force: true }));
      const status = await asRoot(['status', '--json']);
      assertPrintable(status.stdout, 'status --json');
      const hold = JSON.parse(status.stdout).holds.find((entry: { id: string }) => entry.id === id);
      assert.equal(hold?.uid, NOBODY, 'listed as the user’s');
      assert.equal(hold.targets[0].label, HOSTILE_LABEL, 'JSON output is exact');
      assert.equal(
        hold.holder.pid,
        fake.pid,
        'with the pid of the process that listens, not the one it names',
      );
      const human = await asRoot(['status']);
      assert.match(human.stdout, new RegExp(`${id} .*of uid ${NOBODY}`));
      assertPrintable(human.stdout + human.stderr, 'status');
      const thaw = await asRoot(['thaw', id]);
      assert.equal(thaw.code, 0, thaw.stderr);
      assertPrintable(thaw.stderr, 'thaw');
      assert.deepEqual(logger.signals(), [], 'the process the holder named received a signal');
    },
  );

  test('a socket in a user’s directory that leads to a listener of another user is refused', T, async (t) => {
    if (!rootOnly(t)) return;
    // daemon listens; nobody links its own entry to daemon's socket (planted as a symlink).
    const daemonSocket = join(users.dirOf(DAEMON), 'tf-c1c1c1.sock');
    const fake = await startFakeHolder(DAEMON, daemonSocket, { outcome: { intact: true } });
    t.after(fake.kill);
    t.after(() => rmSync(daemonSocket, { force: true }));
    const link = join(users.dirOf(NOBODY), 'tf-c2c2c2.sock');
    plantAs(NOBODY, link, { symlinkTo: daemonSocket });
    t.after(() => rmSync(link, { force: true }));
    const thaw = await asRoot(['thaw', 'tf-c2c2c2']);
    assert.equal(thaw.code, 1);
    assert.match(thaw.stderr, /not a socket/);
  });

  test(
    'root ends a real hold of another user through its holder, and a failed thaw leaves nothing',
    T,
    async (t) => {
      if (!rootOnly(t)) return;
      const sleeper = spawn('sleep', ['120'], { uid: NOBODY, gid: NOBODY, detached: true, stdio: 'ignore' });
      t.after(() => sleeper.kill('SIGKILL'));
      const pid = sleeper.pid as number;
      const nobodyEnv = { TREEFREEZE_RUNTIME_DIR: users.dirOf(NOBODY) };
      const held = await runMeasured(['freeze', String(pid), '--detach', '--max-hold', '2m', '--json'], {
        uid: NOBODY,
        cli: staged.cli,
        env: nobodyEnv,
      });
      assert.equal(held.code, 0, held.stderr);
      const frozen = parseEvents(held.stdout).find((event) => event.event === 'frozen');
      holders.add(frozen?.holder as number);
      const id = frozen?.hold as string;
      assert.ok(hasStopped(taskStates(pid)), 'held');
      const mode = lstatSync(users.dirOf(NOBODY)).mode & 0o777;
      assert.equal(mode, 0o700);
      const status = await asRoot(['status', '--json']);
      const hold = JSON.parse(status.stdout).holds.find((entry: { id: string }) => entry.id === id);
      assert.equal(hold?.state, 'holding', status.stderr);
      assert.equal(hold.holder.pid, frozen?.holder);
      // Not root: its watchdogs could not leave its cgroup, and status says so.
      assert.equal(hold.safetyNet, 'in-cgroup');
      const human = await asRoot(['status']);
      assert.match(
        human.stdout,
        new RegExp(`${id} .*its watchdogs share the holder's cgroup \\(not root\\)`),
      );

      // A thaw the holder refuses to answer (an impostor that hangs up) fails and leaves no file.
      const impostorPath = join(users.dirOf(NOBODY), 'tf-c3c3c3.sock');
      const impostor = await startFakeHolder(NOBODY, impostorPath, 'close');
      t.after(impostor.kill);
      t.after(() => rmSync(impostorPath, { force: true }));
      const listing = () => [users.dirOf(NOBODY), testRuntimeDir].flatMap((dir) => readdirSync(dir)).sort();
      const before = listing();
      const failed = await asRoot(['thaw', 'tf-c3c3c3']);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /without answering/);
      assert.deepEqual(listing(), before, 'a failed thaw left something behind');

      // Ids are not secret (/proc/net/unix shows socket paths): daemon makes one of the same id,
      // which hangs up. Root's thaw still ends nobody's hold, and says which one failed.
      const decoyPath = join(users.dirOf(DAEMON), `${id}.sock`);
      const decoy = await startFakeHolder(DAEMON, decoyPath, 'close');
      t.after(decoy.kill);
      t.after(() => rmSync(decoyPath, { force: true }));
      const thaw = await asRoot(['thaw', id, '--json']);
      assert.equal(thaw.code, 1, 'the decoy’s failure is the command’s');
      assert.match(thaw.stderr, new RegExp(`hold ${id} of uid ${DAEMON}: .*without answering`));
      const [outcome, error] = thaw.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      assert.equal(error.code, 'THAW_FAILED', 'and --json says so as an error event');
      assert.equal(outcome.uid, NOBODY);
      assert.equal(outcome.intact, true);
      assert.equal(outcome.reason, 'request');
      assert.ok(!hasStopped(taskStates(pid)), 'root’s thaw resumed it');
      assert.ok(
        await eventually(() => runningHolders([frozen?.holder as number]).length === 0),
        'holder exited',
      );
      assert.ok(!existsSync(join(users.dirOf(NOBODY), `${id}.json`)), 'its holder removed its record');
    },
  );
});

describe('a flood of sockets', () => {
  test("root's status asks at most 64 holders of a user, all at once, within 2 s", T, async (t) => {
    if (!rootOnly(t)) return;
    const paths = Array.from({ length: 70 }, (_, i) =>
      join(users.dirOf(NOBODY), `tf-f0${i.toString(16).padStart(4, '0')}.sock`),
    );
    const silent = await startFakeHolder(NOBODY, paths, 'silent');
    t.after(silent.kill);
    t.after(() => {
      for (const path of paths) rmSync(path, { force: true });
    });
    // A stopped process of nobody's, which one of the unasked holds might have held.
    const stray = spawn('sleep', ['120'], { uid: NOBODY, gid: NOBODY, detached: true, stdio: 'ignore' });
    t.after(() => stray.kill('SIGKILL'));
    process.kill(stray.pid as number, 'SIGSTOP');
    assert.ok(await eventually(() => hasStopped(taskStates(stray.pid as number))));
    const status = await asRoot(['status']);
    assert.match(status.stdout, new RegExp(`stopped: ${stray.pid} \\(sleep\\)`));
    assert.match(status.stdout, /some entries were skipped .*may own what is listed as not held/);
    t.diagnostic(`${status.wallMs.toFixed(0)} ms, ${status.peakMiB.toFixed(1)} MiB`);
    assert.equal(status.code, 0, status.stderr);
    assert.ok(status.wallMs < 2_000, `took ${status.wallMs.toFixed(0)} ms`);
    assert.match(status.stderr, new RegExp(`asked only 64 of the 70 hold sockets of uid ${NOBODY}`));
    assert.equal(status.stderr.match(/did not answer/g)?.length, 64, 'every one asked was waited for, once');
  });
});

describe('a holder that never answers', () => {
  test("costs root's thaw under 2 s, and the thaw fails saying so", T, async (t) => {
    if (!rootOnly(t)) return;
    const path = join(users.dirOf(NOBODY), 'tf-5e5e5e.sock');
    const silent = await startFakeHolder(NOBODY, path, 'silent');
    t.after(silent.kill);
    t.after(() => rmSync(path, { force: true }));
    const thaw = await asRoot(['thaw', 'tf-5e5e5e']);
    t.diagnostic(`${thaw.wallMs.toFixed(0)} ms`);
    assert.equal(thaw.code, 1);
    assert.match(thaw.stderr, /did not answer within 750 ms; it may still end/);
    assert.ok(thaw.wallMs < 2_000, `took ${thaw.wallMs.toFixed(0)} ms`);
  });
});

describe("root's own hold beside another user's decoy of the same id", () => {
  test(
    'only root’s own holder is asked: the decoy can neither stall nor change the outcome',
    T,
    async (t) => {
      if (!rootOnly(t)) return;
      const sleeper = spawn('sleep', ['120'], { detached: true, stdio: 'ignore' });
      t.after(() => sleeper.kill('SIGKILL'));
      const held = await runMeasured([
        'freeze',
        String(sleeper.pid),
        '--detach',
        '--max-hold',
        '1m',
        '--json',
      ]);
      assert.equal(held.code, 0, held.stderr);
      const frozen = parseEvents(held.stdout).find((event) => event.event === 'frozen');
      holders.add(frozen?.holder as number);
      const id = frozen?.hold as string;
      // The id shows in /proc/net/unix; nobody listens on it too, accepting again and again.
      const decoyPath = join(users.dirOf(NOBODY), `${id}.sock`);
      const decoy = await startFakeHolder(NOBODY, decoyPath, 'stall');
      t.after(decoy.kill);
      t.after(() => rmSync(decoyPath, { force: true }));
      const dryRun = await asRoot(['thaw', id, '--dry-run']);
      assert.equal(dryRun.code, 0, dryRun.stderr);
      assert.match(dryRun.stderr, new RegExp(`^would end hold ${id}: 1 process \\(${sleeper.pid}\\)\n$`));
      const thaw = await asRoot(['thaw', id]);
      t.diagnostic(`${thaw.wallMs.toFixed(0)} ms`);
      assert.equal(thaw.code, 0, thaw.stderr);
      assert.match(thaw.stderr, new RegExp(`^ended hold ${id} after .*, intact; its process runs again\n$`));
      assert.ok(thaw.wallMs < 5_000, `the stalling decoy held it up: ${thaw.wallMs.toFixed(0)} ms`);
      assert.ok(!hasStopped(taskStates(sleeper.pid as number)), 'its own holder ended it');
    },
  );

  test(
    'a user’s 128 descriptions of 30,000 pids: skipped over budget, in bounded time and memory; another user’s hold still listed',
    T,
    async (t) => {
      if (!rootOnly(t)) return;
      // Single-digit pids, so that 30,000 of them fit the 64 KiB a description may take.
      const pids = Array.from({ length: 30_000 }, (_, i) => (i % 8) + 2);
      const sockets = (uid: number, count: number) =>
        Array.from({ length: count }, (_, i) =>
          join(users.dirOf(uid), `tf-b0b0${i.toString(16).padStart(2, '0')}.sock`),
        );
      const heavy = await startFakeHolder(NOBODY, sockets(NOBODY, 64), {
        record: JSON.parse(record('*', { pids })),
      });
      t.after(heavy.kill);
      const honest = await startFakeHolder(DAEMON, sockets(DAEMON, 1), { record: JSON.parse(record('*')) });
      t.after(honest.kill);
      t.after(() => {
        for (const path of [...sockets(NOBODY, 64), ...sockets(DAEMON, 1)]) rmSync(path, { force: true });
      });
      const status = await asRoot(['status', '--json']);
      t.diagnostic(`${status.wallMs.toFixed(0)} ms, ${status.peakMiB.toFixed(1)} MiB`);
      assert.equal(status.code, 0, status.stderr);
      const holds: { uid: number }[] = JSON.parse(status.stdout).holds;
      assert.equal(holds.filter((hold) => hold.uid === NOBODY).length, 0, 'each is over a user’s 25,000');
      assert.equal(
        holds.filter((hold) => hold.uid === DAEMON).length,
        1,
        'another user’s hold is not crowded out',
      );
      assert.match(status.stderr, /the holds described name too many processes|said too much/);
      assert.ok(status.wallMs < 2_000, `took ${status.wallMs.toFixed(0)} ms`);
      assert.ok(status.peakMiB < 100, `used ${status.peakMiB.toFixed(1)} MiB`);
    },
  );
});

describe('a holder asked by another user', () => {
  test('refuses, by the kernel’s word on who asks, even when the socket is open to all', T, async (t) => {
    if (!rootOnly(t)) return;
    const sleeper = spawn('sleep', ['120'], { detached: true, stdio: 'ignore' });
    t.after(() => sleeper.kill('SIGKILL'));
    const dir = mkdtempSync(join(tmpdir(), 'treefreeze-open-'));
    chmodSync(dir, 0o755); // readable by all, writable by root only: allowed
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const held = await runMeasured(
      ['freeze', String(sleeper.pid), '--detach', '--max-hold', '1m', '--json'],
      { env: { TREEFREEZE_RUNTIME_DIR: dir } },
    );
    assert.equal(held.code, 0, held.stderr);
    const frozen = parseEvents(held.stdout).find((event) => event.event === 'frozen');
    holders.add(frozen?.holder as number);
    const socket = join(dir, `${frozen?.hold}.sock`);
    chmodSync(socket, 0o777); // only the holder's own check stands between nobody and the hold
    const ask = `const c = require('node:net').connect(${JSON.stringify(socket)});
      c.on('connect', () => c.write('{"request":"thaw"}\\n'));
      let s = ''; c.on('data', (d) => { s += d; }); c.on('close', () => process.stdout.write(s));
      c.on('error', (e) => process.stdout.write('error ' + e.code));`;
    const reply = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['-e', ask], { uid: NOBODY, gid: NOBODY, cwd: '/' });
      let out = '';
      child.stdout.on('data', (data) => {
        out += data;
      });
      child.once('close', () => resolve(out));
    });
    assert.match(reply, /"refused":"only its own user or root may ask this hold"/);
    // Askers that hang up before the refusal is read: the holder must neither crash nor let go.
    const rude = `const net = require('node:net');
      for (let i = 0; i < 20; i++) net.connect(${JSON.stringify(socket)}).on('connect', function () { this.resetAndDestroy(); }).on('error', () => {});
      setTimeout(() => {}, 500);`;
    await new Promise((resolve) =>
      spawn(process.execPath, ['-e', rude], { uid: NOBODY, gid: NOBODY, cwd: '/' }).once('close', resolve),
    );
    assert.equal(runningHolders([frozen?.holder as number]).length, 1, 'the holder survived');
    assert.ok(hasStopped(taskStates(sleeper.pid as number)), 'still held');
    const thaw = await runMeasured(['thaw', frozen?.hold as string], {
      env: { TREEFREEZE_RUNTIME_DIR: dir },
    });
    assert.equal(thaw.code, 0, thaw.stderr);
    assert.ok(!hasStopped(taskStates(sleeper.pid as number)), 'its owner ended it');
  });
});

describe('the runtime directory', () => {
  test(
    'without XDG_RUNTIME_DIR a user gets a private directory of their own, never a shared one',
    T,
    async (t) => {
      if (!rootOnly(t)) return;
      const temporary = mkdtempSync(join(tmpdir(), 'treefreeze-tmp-'));
      chmodSync(temporary, 0o1777); // as /tmp is
      t.after(() => rmSync(temporary, { recursive: true, force: true }));
      const sleeper = spawn('sleep', ['120'], { uid: NOBODY, gid: NOBODY, detached: true, stdio: 'ignore' });
      t.after(() => sleeper.kill('SIGKILL'));
      const pid = String(sleeper.pid);
      const env = { TMPDIR: temporary, XDG_RUNTIME_DIR: '', TREEFREEZE_RUNTIME_DIR: '' };
      const asNobody = (args: string[]) => runMeasured(args, { uid: NOBODY, cli: staged.cli, env });
      const dir = join(temporary, `treefreeze-${NOBODY}`);

      // daemon got there first, and left it open to everyone.
      mkdirSync(dir, { mode: 0o777 });
      chmodSync(dir, 0o777);
      chownSync(dir, DAEMON, DAEMON);
      const refused = await asNobody(['freeze', pid, '--for', '200ms']);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /^treefreeze: refusing the runtime directory: .* belongs to uid 1, not to uid 65534/m,
      );
      assert.ok(!hasStopped(taskStates(Number(pid))), 'nothing was frozen');
      chownSync(dir, NOBODY, NOBODY);
      const open = await asNobody(['freeze', pid, '--for', '200ms']);
      assert.equal(open.code, 1);
      assert.match(open.stderr, /is writable by others \(mode 0777\): chmod 700/);
      rmSync(dir, { recursive: true });
      // A symbolic link to a directory of someone else's.
      writeFileSync(join(temporary, 'x'), '');
      symlinkSync(temporary, dir);
      const linked = await asNobody(['freeze', pid, '--for', '200ms']);
      assert.match(linked.stderr, /is a symbolic link/);
      rmSync(dir);

      const made = await asNobody(['freeze', pid, '--for', '200ms']);
      assert.equal(made.code, 0, made.stderr);
      const stat = lstatSync(dir);
      assert.equal(stat.uid, NOBODY);
      assert.equal(stat.mode & 0o777, 0o700, 'made private');
    },
  );
});
