/**
 * freeze --prepare --until-stdin-closes: the two-phase hold a fleet uses. Nothing is stopped
 * until the line "freeze", and nothing at all when an order that forbids it comes first or
 * with it (a line "thaw", the end of the input), when the deadline passes, or when a line is
 * not an order. The tree is watched from outside the whole time.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import {
  allStopped,
  cleanupTrees,
  eventually,
  noneStopped,
  only,
  parseEvents,
  startCli,
  startTree,
  type TestTree,
} from '../helpers/index.js';

const T = { timeout: 60_000 };

after(async () => {
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** Polls `tree` every 2 ms: whether any of its processes was ever seen stopped, and how often it looked. */
function watch(tree: TestTree) {
  let stopped = false;
  let looks = 0;
  const timer = setInterval(() => {
    looks++;
    if (!noneStopped(tree.pids)) stopped = true;
  }, 2);
  timer.unref(); // a test that fails before stop() must not keep the file from ending
  return { stopped: () => stopped, looks: () => looks, stop: () => clearInterval(timer) };
}

const prepared = (tree: TestTree, extra: string[] = []) =>
  startCli(
    [
      'freeze',
      String(tree.root),
      '--prepare',
      '--until-stdin-closes',
      '--max-hold',
      '1m',
      '--json',
      ...extra,
    ],
    { stdin: 'pipe' },
  );

test('prepared: reports the pids, stops nothing; freezes on "freeze", thaws on "thaw"', T, async () => {
  const tree = await startTree('tree', 3, 1);
  const seen = watch(tree);
  const cli = prepared(tree);
  assert.ok(await eventually(() => cli.stdout().includes('"prepared"'), 15_000), cli.stderr());
  const event = only(parseEvents(cli.stdout()), 'prepared');
  assert.deepEqual([...event.targets[0].pids].sort(), [...tree.pids].sort());
  assert.ok(await eventually(() => seen.looks() > 100, 10_000));
  assert.equal(seen.stopped(), false, 'nothing stopped while prepared');
  cli.child.stdin?.write('freeze\n');
  assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
  assert.ok(allStopped(tree.pids), 'frozen on the order');
  const frozen = only(parseEvents(cli.stdout()), 'frozen');
  assert.ok(frozen.frozenAt <= frozen.at, 'frozenAt: when the last task was confirmed, before the event');
  cli.child.stdin?.write('freeze\nthaw\n'); // a repeated freeze changes nothing
  const result = await cli.done;
  seen.stop();
  assert.equal(result.code, 0, result.stderr);
  const thawed = only(parseEvents(result.stdout), 'thawed');
  assert.equal(thawed.thawReason, 'stdin');
  assert.equal(thawed.intact, true);
  assert.ok(noneStopped(tree.pids));
  tree.kill();
});

for (const [what, input, code, event] of [
  ['"thaw" before any order', 'thaw\n', 0, 'dismissed'],
  ['"freeze" and "thaw" in one write', 'freeze\nthaw\n', 0, 'dismissed'],
  ['the end of the input before any order', '', 0, 'dismissed'],
  ['a line that is not an order', 'status?\nfreeze\n', 1, 'error'],
  [
    'an order to freeze whose deadline has passed (held up on the way)',
    `freeze ${Date.now() - 1}\n`,
    1,
    'error',
  ],
  ['a line over 64 bytes', `${'f'.repeat(100)}`, 1, 'error'],
] as const) {
  test(`${what}: never frozen; ${event}, exit ${code}`, T, async () => {
    const tree = await startTree('tree', 2, 1);
    const seen = watch(tree);
    const cli = prepared(tree);
    assert.ok(await eventually(() => cli.stdout().includes('"prepared"'), 15_000), cli.stderr());
    cli.child.stdin?.write(input);
    if (!input.endsWith('\n')) cli.child.stdin?.end();
    const result = await cli.done;
    seen.stop();
    assert.equal(result.code, code, result.stderr);
    const ended = only(parseEvents(result.stdout), event);
    if (event === 'error') assert.equal(ended.code, 'BAD_ORDER');
    else assert.equal(ended.reason, 'stdin');
    assert.equal(parseEvents(result.stdout).filter((e) => e.event === 'frozen').length, 0);
    assert.ok(seen.looks() > 10, 'the tree was watched');
    assert.equal(seen.stopped(), false, 'never stopped');
    tree.kill();
  });
}

test('no order within --prepare-timeout: PREPARE_EXPIRED, exit 1, never frozen', T, async () => {
  const tree = await startTree('tree', 2, 1);
  const seen = watch(tree);
  const cli = prepared(tree, ['--prepare-timeout', '700ms']);
  const result = await cli.done; // its input stays open: only the deadline ends it
  seen.stop();
  assert.equal(result.code, 1, result.stderr);
  assert.equal(only(parseEvents(result.stdout), 'error').code, 'PREPARE_EXPIRED');
  assert.match(result.stderr, /no order to freeze came within 700 ms of the preparation: nothing was frozen/);
  assert.equal(seen.stopped(), false, 'never stopped');
  cli.child.stdin?.end();
  tree.kill();
});

test('a line that is not an order during the hold ends it (thawed) and fails with BAD_ORDER', T, async () => {
  const tree = await startTree('tree', 2, 1);
  const cli = prepared(tree);
  assert.ok(await eventually(() => cli.stdout().includes('"prepared"'), 15_000), cli.stderr());
  cli.child.stdin?.write('freeze\n');
  assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
  cli.child.stdin?.write('rm -rf /\n');
  const result = await cli.done;
  assert.equal(result.code, 1, result.stderr);
  assert.equal(only(parseEvents(result.stdout), 'thawed').thawReason, 'stdin');
  assert.match(only(parseEvents(result.stdout), 'error').message, /"rm -rf \/" is not an order/);
  assert.ok(noneStopped(tree.pids));
  tree.kill();
});

test(
  '--prepare without --until-stdin-closes or --detach is a usage error: the order would have nowhere to come from',
  T,
  async () => {
    const tree = await startTree('tree', 1, 1);
    const result = await startCli(['freeze', String(tree.root), '--prepare']).done;
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--prepare needs --until-stdin-closes .* or --detach/);
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  },
);

/** freeze --prepare --detach: the prepared event (its hold id, its holder) once it is ready. */
async function preparedInBackground(tree: TestTree, timeout = '30s') {
  const result = await startCli([
    'freeze',
    String(tree.root),
    '--prepare',
    '--detach',
    '--max-hold',
    '1m',
    '--prepare-timeout',
    timeout,
    '--json',
  ]).done;
  assert.equal(result.code, 0, result.stderr);
  const event = only(parseEvents(result.stdout), 'prepared') as unknown as {
    hold: string;
    holder: number;
    detached: boolean;
  };
  assert.equal(event.detached, true);
  return event;
}

test(
  'prepared in the background: nothing stopped; release --at T freezes it at T by the clock, thaw <id> ends it',
  T,
  async () => {
    const tree = await startTree('tree', 2, 1);
    const seen = watch(tree);
    const { hold } = await preparedInBackground(tree);
    const at = Date.now() + 1_500;
    const release = startCli(['release', hold, '--at', String(at), '--json']);
    assert.ok(await eventually(() => seen.looks() > 100, 10_000));
    assert.ok(!seen.stopped() || Date.now() >= at, 'nothing stopped before the agreed time');
    const released = await release.done;
    seen.stop();
    assert.equal(released.code, 0, released.stderr);
    const frozen = only(parseEvents(released.stdout), 'frozen');
    assert.equal(frozen.hold, hold);
    assert.ok(frozen.frozenAt >= at, `frozen at ${frozen.frozenAt}, not before ${at}`);
    assert.ok(allStopped(tree.pids));
    const again = await startCli(['release', hold]).done;
    assert.equal(again.code, 1);
    assert.match(again.stderr, /it is frozen already/);
    const thawed = await startCli(['thaw', hold]).done;
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  },
);

test(
  'release --thaw-at: one command freezes at T and thaws at the later time, printing both; a thaw time before the deadline is refused',
  T,
  async () => {
    const tree = await startTree('tree', 2, 1);
    const { hold } = await preparedInBackground(tree);
    const soon = Date.now() + 1_000;
    const early = ['--at', String(soon), '--within', '1s', '--thaw-at', String(soon + 500), '--json'];
    const refused = await startCli(['release', hold, ...early]).done;
    assert.equal(refused.code, 1);
    assert.equal(only(parseEvents(refused.stdout), 'error').code, 'INVALID_ARGUMENT');
    assert.ok(noneStopped(tree.pids), 'a refused order stopped nothing');
    const at = Date.now() + 1_000;
    const thawAt = at + 3_000;
    const release = startCli([
      'release',
      hold,
      '--at',
      String(at),
      '--within',
      '1s',
      '--thaw-at',
      String(thawAt),
      '--json',
    ]);
    assert.ok(await eventually(() => allStopped(tree.pids), 20_000), 'frozen at T');
    const released = await release.done;
    assert.equal(released.code, 0, released.stderr);
    assert.ok(Date.now() >= thawAt, 'the command waited for its thaw time');
    assert.ok(noneStopped(tree.pids), 'thawed by the same command');
    // Two lines: the frozen event, then the thaw's outcome (thaw --json's line, not an event).
    const [frozenLine = '', thawLine] = released.stdout.trim().split('\n');
    const frozen = only(parseEvents(frozenLine), 'frozen');
    assert.equal(frozen.hold, hold);
    assert.ok(frozen.frozenAt >= at, `frozen at ${frozen.frozenAt}, not before ${at}`);
    assert.ok(thawLine, released.stdout);
    const thawed = JSON.parse(thawLine) as { id: string; intact: boolean; heldMs: number };
    assert.equal(thawed.id, hold);
    assert.equal(thawed.intact, true);
    assert.ok(thawed.heldMs >= thawAt - frozen.frozenAt - 50, `held ${thawed.heldMs} ms`);
    tree.kill();
  },
);

test(
  'release --thaw-at: a stop signal while it waits thaws at once (exit 143); a thaw time a day ahead is refused before the freeze',
  T,
  async () => {
    const tree = await startTree('tree', 1, 1);
    const { hold } = await preparedInBackground(tree);
    const farAhead = String(Date.now() + 2 * 86_400_000);
    const refused = await startCli(['release', hold, '--thaw-at', farAhead, '--json']).done;
    assert.equal(refused.code, 1);
    assert.equal(only(parseEvents(refused.stdout), 'error').code, 'INVALID_ARGUMENT');
    assert.ok(noneStopped(tree.pids), 'refused before anything was frozen');
    const release = startCli(['release', hold, '--thaw-at', String(Date.now() + 60_000), '--json']);
    assert.ok(await eventually(() => allStopped(tree.pids) && release.stdout().includes('"frozen"'), 20_000));
    const signalled = performance.now();
    release.child.kill('SIGTERM');
    const ended = await release.done;
    assert.equal(ended.code, 143, ended.stderr);
    assert.ok(performance.now() - signalled < 10_000, 'thawed at once, not at its time');
    assert.ok(noneStopped(tree.pids), 'the hold was thawed');
    assert.match(ended.stdout, /"command":"thaw"/);
    tree.kill();
  },
);

test(
  'release --thaw-at: a stop signal before its freeze time dismisses the hold; it never freezes',
  T,
  async () => {
    const tree = await startTree('tree', 1, 1);
    const seen = watch(tree);
    const { hold, holder } = await preparedInBackground(tree);
    const at = Date.now() + 10_000; // within the holder's 30 s of waiting
    const release = startCli([
      'release',
      hold,
      '--at',
      String(at),
      '--thaw-at',
      String(at + 5_000),
      '--json',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the order is with the holder
    release.child.kill('SIGINT');
    const ended = await release.done;
    assert.equal(ended.code, 130, ended.stderr);
    assert.ok(await eventually(() => !existsSync(`/proc/${holder}`), 10_000), 'the dismissed holder exited');
    seen.stop();
    assert.ok(seen.looks() > 100 && !seen.stopped(), 'never stopped');
    tree.kill();
  },
);

test(
  'thaw <hold> --at T: the command starts at once and ends the hold at T; a day ahead is refused',
  T,
  async () => {
    const tree = await startTree('tree', 1, 1);
    const { hold } = await preparedInBackground(tree);
    const released = await startCli(['release', hold]).done;
    assert.equal(released.code, 0, released.stderr);
    assert.ok(allStopped(tree.pids));
    const tooLate = await startCli(['thaw', hold, '--at', String(Date.now() + 2 * 86_400_000)]).done;
    assert.equal(tooLate.code, 1);
    assert.match(tooLate.stderr, /more than a day ahead/);
    assert.ok(allStopped(tree.pids), 'a refused thaw changed nothing');
    const at = Date.now() + 2_000;
    const thaw = startCli(['thaw', hold, '--at', String(at)]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(Date.now() >= at || allStopped(tree.pids), 'still held before its time');
    const thawed = await thaw.done;
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.ok(Date.now() >= at, 'the thaw waited for its time');
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  },
);

test(
  'prepared in the background: an order past its deadline is refused (BAD_ORDER), a thaw dismisses it; never stopped',
  T,
  async () => {
    const tree = await startTree('tree', 1, 1);
    const seen = watch(tree);
    const late = await preparedInBackground(tree);
    const refused = await startCli([
      'release',
      late.hold,
      '--at',
      String(Date.now() - 5_000),
      '--within',
      '1s',
      '--json',
    ]).done;
    assert.equal(refused.code, 1);
    assert.equal(only(parseEvents(refused.stdout), 'error').code, 'BAD_ORDER');
    const dismissed = await preparedInBackground(tree);
    const thawed = await startCli(['thaw', dismissed.hold]).done;
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.match(thawed.stderr, /dismissed prepared hold .* nothing was frozen/);
    const gone = await startCli(['release', dismissed.hold, '--json']).done;
    assert.equal(only(parseEvents(gone.stdout), 'error').code, 'NO_MATCH');
    const holders = [late.holder, dismissed.holder];
    assert.ok(
      await eventually(() => holders.every((pid) => !existsSync(`/proc/${pid}`)), 10_000),
      'both holders exited',
    );
    seen.stop();
    assert.ok(seen.looks() > 100 && !seen.stopped(), 'never stopped');
    tree.kill();
  },
);
