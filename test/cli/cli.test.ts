import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  allStopped,
  assertNoneStopped,
  cleanupTrees,
  cliPath,
  eventually,
  fixturePath,
  freshBuild,
  hasStopped,
  ignoresStraySignals,
  inCI,
  killGroupOf,
  only,
  parseEvents,
  readyLine,
  repoRoot,
  runCli,
  runCliAlone,
  sleep,
  startCli,
  startTree,
  taskStates,
  unusedPid,
  watchdogsOf,
} from '../helpers/index.js';

const cli = cliPath;
const T = { timeout: 60_000 };

after(async () => {
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** Every pid any breach names, sorted. */
const ranPids = (breaches: { pids: number[] }[]) =>
  [...new Set(breaches.flatMap((breach) => breach.pids))].sort();

/** Terminal escape sequences (colours, clearing the line). */
const ESCAPE_CODES = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** script(1) gives the command a pseudo-terminal; CI has it (util-linux). */
function canUseTerminal(t: { skip: (reason: string) => void }): boolean {
  if (existsSync('/usr/bin/script')) return true;
  assert.ok(!inCI, 'CI has util-linux script');
  t.skip('needs script(1) for a pseudo-terminal');
  return false;
}

/** Runs `command` in a pseudo-terminal `columns` wide (NO_COLOR): what it printed so far, and its exit code. */
function inTerminal(command: string, columns = 200): { output: () => string; done: Promise<number | null> } {
  const child = spawn('script', ['-qfec', `stty cols ${columns} rows 50; exec ${command}`, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (data) => {
    output += data;
  });
  return { output: () => output, done: new Promise((resolve) => child.once('close', resolve)) };
}

describe('treefreeze run', () => {
  test('exits with the command’s code; the tree is frozen while it runs and runs afterwards', T, async () => {
    const tree = await startTree('tree', 5, 2);
    // The command checks the states itself: every task of every pid must read T.
    const check = tree.pids
      .map(
        (pid) =>
          `for f in /proc/${pid}/task/*/stat; do sed 's/.*) //' $f | cut -c1 | grep -qx T || exit 99; done`,
      )
      .join('; ');
    const result = await runCli(['run', String(tree.root), '--', 'sh', '-c', `${check}; exit 7`]);
    assert.equal(result.code, 7, result.stderr);
    // The froze line, then always one closing line: how long, intact or not, how it ended.
    assert.match(
      result.stderr,
      /^froze 5 processes, 10 threads in .*; running sh\ntreefreeze: held 5 processes for [^,]+, intact; thawed when sh ended\n$/,
    );
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test(
    'a hold that ends before the command (lease, tree gone) exits 4 and says so; JSON says not covered',
    T,
    async () => {
      const tree = await startTree('tree', 2, 1);
      const ranOut = await runCli(['run', String(tree.root), '--max-hold', '300ms', '--', 'sleep', '1']);
      assert.equal(ranOut.code, 4, ranOut.stderr);
      assert.match(
        ranOut.stderr,
        /held 2 processes for \d+ ms, intact; --max-hold ran out before the command ended\n/,
      );
      assert.match(
        ranOut.stderr,
        /exiting with 4 \(the hold ended before the command\) instead of the command's 0/,
      );
      const kept = await runCli([
        'run',
        String(tree.root),
        '--max-hold',
        '300ms',
        '--keep-exit-code',
        '--',
        'sleep',
        '1',
      ]);
      assert.equal(kept.code, 0, 'the command code, when asked');
      const json = await runCli([
        'run',
        String(tree.root),
        '--max-hold',
        '300ms',
        '--json-fd',
        '3',
        '--',
        'sleep',
        '1',
      ]);
      const thawed = only(parseEvents(json.fd3), 'thawed');
      assert.deepEqual([thawed.covered, thawed.exitCode, thawed.commandExitCode], [false, 4, 0]);
      assert.ok(
        (thawed.heldMs as number) < 900,
        `held until the lease, not the command's end: ${thawed.heldMs} ms`,
      );
      const covered = await runCli(['run', String(tree.root), '--json-fd', '3', '--', 'true']);
      assert.equal(only(parseEvents(covered.fd3), 'thawed').covered, true);
      // The whole tree killed while the command runs: nothing left to hold.
      const gone = await runCli([
        'run',
        String(tree.root),
        '--',
        'sh',
        '-c',
        `kill -9 ${tree.pids.join(' ')}; sleep 0.5`,
      ]);
      assert.equal(gone.code, 4, gone.stderr);
      assert.match(gone.stderr, /every process of the tree exited before the command ended/);
      tree.kill();
    },
  );

  test(
    'a command killed by a signal gives 128+n; a missing command 127 and one that may not run 126, before any freeze',
    T,
    async () => {
      const tree = await startTree('tree', 2, 1);
      const killed = await runCli(['run', String(tree.root), '--', 'sh', '-c', 'kill -TERM $$']);
      assert.equal(killed.code, 128 + 15);
      const missing = await runCli(['run', String(tree.root), '--', 'treefreeze-no-such-command']);
      assert.equal(missing.code, 127);
      assert.equal(
        missing.stderr,
        'treefreeze: cannot run treefreeze-no-such-command: command not found; nothing was frozen\n',
        'found out before freezing: no "froze" line',
      );
      const dir = mkdtempSync(join(tmpdir(), 'treefreeze-cli-'));
      const plain = join(dir, 'not-executable');
      writeFileSync(plain, 'echo hi\n', { mode: 0o644 });
      try {
        const notExecutable = await runCli(['run', String(tree.root), '--', plain]);
        assert.equal(notExecutable.code, 126);
        assert.equal(
          notExecutable.stderr,
          `treefreeze: cannot run ${plain}: permission denied; nothing was frozen\n`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      assertNoneStopped(tree.pids);
      tree.kill();
    },
  );

  test('SIGTERM to treefreeze is passed to the command, then the tree is thawed', T, async () => {
    const tree = await startTree('tree', 3, 1);
    const { child, done } = startCli(['run', String(tree.root), '--', 'sleep', '20']);
    // Once the command runs (not merely once every task reads T: the freeze may still be
    // finishing, and a SIGTERM then aborts it).
    let stderr = '';
    child.stderr?.on('data', (data) => {
      stderr += data;
    });
    assert.ok(await eventually(() => stderr.includes('; running sleep'), 10_000), 'frozen, running');
    assert.ok(allStopped(tree.pids));
    child.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, 128 + 15, result.stderr);
    assertNoneStopped(tree.pids);
    tree.kill();
  });
});

describe('treefreeze freeze', () => {
  test('--for 300ms freezes, then thaws by itself', T, async () => {
    const tree = await startTree('tree', 4, 2);
    const started = Date.now();
    const { done } = startCli(['freeze', String(tree.root), '--for', '300ms']);
    assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'frozen');
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Date.now() - started >= 300);
    assert.match(
      result.stderr,
      /^froze 4 processes, 8 threads in .*; holding for 300 ms\nthawed 4 processes after [\d.]+ ms\n$/,
    );
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    test(`a hold ended by ${signal} thaws before exiting`, T, async () => {
      const tree = await startTree('tree', 3, 2);
      const { child, done } = startCli(['freeze', String(tree.root), '--json']);
      // The "frozen" event says the hold has begun: every task reads T a moment earlier, while
      // the freeze is still finishing (then the signal aborts it instead: exit 1).
      let early = '';
      child.stdout?.on('data', (data) => {
        early += data;
      });
      assert.ok(await eventually(() => early.includes('"event":"frozen"'), 10_000), 'frozen');
      assert.ok(allStopped(tree.pids));
      child.kill(signal);
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      const report = only(parseEvents(result.stdout), 'thawed');
      assert.equal(report.thawReason, 'signal');
      assert.equal(report.signal, signal);
      assertNoneStopped(tree.pids);
      tree.kill();
    });
  }

  test('a tree that includes the CLI’s own parent is frozen without the CLI', T, async () => {
    const script = `sleep 30 & a=$!; ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} freeze $$ --for 300ms --json; code=$?; kill $a; exit $code`;
    const child = spawn('setsid', ['sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (data) => {
      stdout += data;
    });
    const code = await new Promise((resolve) => child.once('close', resolve));
    assert.equal(code, 0);
    const report = only(parseEvents(stdout), 'frozen');
    const comms = report.processes.map((p: { comm: string }) => p.comm).sort();
    assert.deepEqual(comms, ['sh', 'sleep'], 'the shell and its sleeper; not the CLI (node)');
  });

  test('--max-hold thaws by itself (the lease) and says so', T, async () => {
    const tree = await startTree('tree', 3, 1);
    const started = Date.now();
    const result = await runCli(['freeze', String(tree.root), '--max-hold', '300ms', '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(only(parseEvents(result.stdout), 'thawed').thawReason, 'lease');
    assert.ok(Date.now() - started >= 300);
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test('in a terminal, freeze shows a live status line, then what it thawed', T, async (t) => {
    if (!canUseTerminal(t)) return;
    const tree = await startTree('tree', 2, 1);
    const terminal = inTerminal(`${process.execPath} ${cli} freeze ${tree.root} --for 700ms`);
    const code = await terminal.done;
    const output = terminal.output();
    assert.equal(code, 0, output);
    assert.match(
      output,
      /❄ frozen 2 processes, 2 threads of \S+ \(pid \d+\) · held .* · .* left · Ctrl-C to thaw/,
    );
    assert.match(output, /thawed 2 processes after [\d.]+ (ms|s)/);
    assert.ok(!output.includes('\u001b[36m'), 'NO_COLOR: no colour codes');
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test(
    'in a 40-column terminal, the status line fits its width (a wrapped line cannot be redrawn in place) and shows the held time',
    T,
    async (t) => {
      if (!canUseTerminal(t)) return;
      const tree = await startTree('tree', 2, 1);
      const terminal = inTerminal(`${process.execPath} ${cli} freeze ${tree.root} --for 700ms`, 40);
      assert.equal(await terminal.done, 0, terminal.output());
      const drawn = terminal
        .output()
        .split(/[\r\n]/)
        .map((line) => line.replace(ESCAPE_CODES, ''));
      const status = drawn.filter((line) => line.startsWith('❄ frozen'));
      assert.ok(status.length > 0, terminal.output());
      for (const line of status) {
        assert.ok([...line].length <= 39, `${[...line].length} columns: ${line}`);
        assert.match(line, / · held [\d.]+ (ms|s)/);
      }
      tree.kill();
    },
  );

  test('in a terminal, a broken hold shows on the status line and the end line', T, async (t) => {
    if (!canUseTerminal(t)) return;
    const tree = await startTree('tree', 2, 1);
    const terminal = inTerminal(
      `${process.execPath} ${cli} freeze ${tree.root} --for 900ms --on-breach report`,
    );
    assert.ok(await eventually(() => terminal.output().includes('❄ frozen'), 10_000), terminal.output());
    for (const pid of tree.pids) process.kill(pid, 'SIGCONT');
    const code = await terminal.done;
    const output = terminal.output();
    assert.equal(code, 3, output);
    // The SIGCONTs come from another process: a check may see one before the other.
    assert.match(output, /hold broken: [12] process(es)? .* ran again; reporting only/);
    assert.match(output, /❄ frozen .* · hold broken 1 time · /);
    assert.match(output, /thawed 2 processes after [\d.]+ (ms|s), hold broken/);
    tree.kill();
  });

  test(
    '--for longer than a Node timer (600h) holds, says so in a human unit, and thaws on SIGTERM',
    T,
    async () => {
      const tree = await startTree('tree', 2, 1);
      const { child, done } = startCli(['freeze', String(tree.root), '--for', '600h']);
      let stderr = '';
      child.stderr?.on('data', (data) => {
        stderr += data;
      });
      assert.ok(await eventually(() => stderr.includes('holding for'), 10_000), stderr);
      assert.match(stderr, /holding for 25 d\n/);
      await sleep(300); // a plain 600h timer fires after 1 ms
      assert.ok(allStopped(tree.pids), 'still held');
      child.kill('SIGTERM');
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /TimeoutOverflowWarning/);
      assertNoneStopped(tree.pids);
      tree.kill();
    },
  );

  test('--no-watchdog holds without a watchdog process; the default has its twins', T, async () => {
    const tree = await startTree('tree', 2, 1);
    for (const [flags, expected] of [
      [['--no-watchdog'], 0],
      [[], 2],
    ] as const) {
      const startedCli = startCli(['freeze', String(tree.root), '--for', '600ms', ...flags]);
      const { done } = startedCli;
      assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'frozen');
      // Under load the second twin can start a moment after the tree is stopped: wait for it.
      if (expected > 0)
        await eventually(() => watchdogsOf(startedCli.child.pid as number).length >= expected, 2_000);
      assert.equal(
        watchdogsOf(startedCli.child.pid as number).length,
        expected,
        `watchdogs with ${flags.join(' ') || 'defaults'}`,
      );
      assert.equal((await done).code, 0);
    }
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test('a watchdog stopped during the hold is continued and reported (JSON and stderr)', T, async () => {
    const tree = await startTree('tree', 2, 1);
    for (const json of [true, false]) {
      const cli = startCli(['freeze', String(tree.root), '--for', '1s', ...(json ? ['--json'] : [])]);
      assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'frozen');
      const watchdogs = () => watchdogsOf(cli.child.pid as number);
      assert.ok(await eventually(() => watchdogs().length === 2, 10_000), 'the CLI has its twin watchdogs');
      const [watchdog] = watchdogs() as [number];
      // Past its first milliseconds, once its traps are set: the stop is then a stop of a running watchdog.
      assert.ok(await eventually(() => ignoresStraySignals(watchdog), 10_000), 'its traps are set');
      process.kill(watchdog, 'SIGSTOP');
      const result = await cli.done;
      assert.equal(result.code, 0, result.stderr);
      if (json) {
        const all = parseEvents(result.stdout);
        assert.equal(only(all, 'watchdog').watchdog.event, 'continued', 'emitted as it happened');
        const events = only(all, 'thawed').watchdogEvents;
        assert.equal(events[0]?.event, 'continued');
        assert.equal(events[0]?.pid, watchdog);
      } else {
        assert.match(
          result.stderr,
          new RegExp(`the watchdog \\(pid ${watchdog}\\) was stopped by someone; continued it`),
        );
      }
    }
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test('--children-only leaves the root running', T, async () => {
    const tree = await startTree('tree', 4, 1);
    const { done } = startCli(['freeze', String(tree.root), '--children-only', '--for', '5s']);
    assert.ok(await eventually(() => allStopped(tree.pids.slice(1)), 10_000), 'children frozen');
    assert.doesNotMatch(taskStates(tree.root), /[Tt]/, 'the root runs (S, or R for a moment)');
    tree.kill();
    await done;
  });
});

describe('a broken hold on the command line', () => {
  test(
    'run: a SIGCONT while the command runs exits 3 (--keep-exit-code: the command’s); --json says so',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      const resume = ['kill', '-CONT', ...tree.pids.map(String)];
      const broken = await runCli(['run', String(tree.root), '--json', '--json-fd', '3', '--', ...resume]);
      assert.equal(broken.code, 3, broken.stderr);
      assert.equal(broken.stdout, '', 'the events never share stdout with the command');
      const all = parseEvents(broken.fd3);
      assert.deepEqual(
        all.map((event) => event.event).filter((kind) => kind !== 'breach-ended'),
        ['frozen', 'breach', 'thawed'],
      );
      const report = only(all, 'thawed');
      assert.equal(report.intact, false);
      assert.equal(report.exitCode, 3);
      assert.equal(report.commandExitCode, 0);
      assert.ok(report.breaches.length >= 1);
      // Sent by another process, the SIGCONTs may fall into one episode or two.
      assert.deepEqual(ranPids(report.breaches), [...tree.pids].sort());

      const kept = await runCli(['run', String(tree.root), '--keep-exit-code', '--', ...resume]);
      assert.equal(kept.code, 0, kept.stderr);
      assert.match(
        kept.stderr,
        /hold broken: [123] process(es)? .* ran again; (refreezing|found as the hold ended)/,
      );
      assert.match(kept.stderr, /hold was broken/);

      const intact = await runCli(['run', String(tree.root), '--', 'sh', '-c', 'exit 7']);
      assert.equal(intact.code, 7, 'an intact hold keeps the command’s code');
      assert.doesNotMatch(intact.stderr, /broken/);
      assertNoneStopped(tree.pids);
      tree.kill();
    },
  );

  test('freeze --for: a SIGCONT during the hold is refrozen, reported, and exits 3', T, async () => {
    const tree = await startTree('tree', 3, 1);
    const { child, done } = startCli(['freeze', String(tree.root), '--for', '800ms']);
    let stderr = '';
    child.stderr?.on('data', (data) => {
      stderr += data;
    });
    assert.ok(await eventually(() => stderr.includes('holding for'), 10_000), stderr);
    for (const pid of tree.pids) process.kill(pid, 'SIGCONT');
    assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'refrozen while held');
    const result = await done;
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /hold broken: [123] process(es)? .* ran again; refreezing/);
    assert.match(result.stderr, /refroze them/);
    assert.match(result.stderr, /the hold was broken [12] times?: /);
    assertNoneStopped(tree.pids);

    const held = startCli(['freeze', String(tree.root), '--for', '800ms', '--json', '--on-breach', 'report']);
    assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'frozen');
    await sleep(150);
    for (const pid of tree.pids) process.kill(pid, 'SIGCONT');
    const reported = await held.done;
    assert.equal(reported.code, 3, reported.stderr);
    const report = only(parseEvents(reported.stdout), 'thawed');
    assert.equal(report.intact, false);
    assert.equal(report.exitCode, 3);
    assert.equal(report.breaches[0].refrozen, false);
    assert.deepEqual(ranPids(report.breaches), [...tree.pids].sort());

    const json = await runCli(['freeze', String(tree.root), '--for', '100ms', '--json']);
    assert.equal(json.code, 0, 'an intact hold exits 0');
    assert.equal(only(parseEvents(json.stdout), 'thawed').intact, true);
    tree.kill();
  });

  test(
    'freeze of a child whose parent stops itself (as su does): the parent runs again after',
    T,
    async () => {
      const fixture = spawn(fixturePath(), ['selfstop'], {
        detached: true,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const [parent, child] = (await readyLine(fixture, 'selfstop')).split(' ').slice(1).map(Number);
        const result = await runCli(['freeze', String(child), '--for', '500ms']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(`continued 1 process above the tree .*: ${parent} \\(treefix\\)`),
        );
        assert.ok(
          await eventually(() => taskStates(parent as number) === 'S'),
          `parent ${taskStates(parent as number)}`,
        );
      } finally {
        killGroupOf(fixture);
      }
    },
  );

  test('thaw 1 is refused in one line; thaw --dry-run lists and changes nothing', T, async () => {
    // --dry-run: refused all the same; were the refusal ever broken, nothing would be resumed.
    const refused = await runCli(['thaw', '1', '--dry-run']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^treefreeze: refusing to thaw pid 1: .*--machine-wide.*\n$/);
    assert.equal(refused.stderr.split('\n').length, 2, 'one line');

    const tree = await startTree('tree', 3, 1);
    const stopped = tree.pids[2] as number;
    process.kill(stopped, 'SIGSTOP');
    assert.ok(await eventually(() => taskStates(stopped) === 'T'));
    const dry = await runCli(['thaw', String(tree.root), '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stderr, `would resume 1 process: ${stopped} (treefix)\n`);
    const dryJson = JSON.parse((await runCli(['thaw', String(tree.root), '--dry-run', '--json'])).stdout);
    assert.deepEqual(dryJson.resumed, [{ pid: stopped, comm: 'treefix' }]);
    assert.equal(dryJson.dryRun, true);
    assert.equal(taskStates(stopped), 'T', 'nothing changed');
    tree.kill();
  });
});

describe('usage and errors', () => {
  const usageErrors: [string, string[], RegExp][] = [
    ['freeze without a target', ['freeze'], /missing target: give a pid, a process name or name:NAME, :PORT/],
    ['freeze 12abc', ['freeze', '12abc'], /target: "12abc" is not a process id/],
    ['freeze :99999', ['freeze', ':99999'], /a port is a number from 1 to 65535/],
    ['freeze -5', ['freeze', '-5'], /-5/],
    ['freeze 12 --for xyz', ['freeze', '12', '--for', 'xyz'], /--for: "xyz" is not a duration/],
    ['freeze 12 --for 400d', ['freeze', '12', '--for', '400d'], /--for: "400d" is longer than .* 365d/],
    ['run 12 without a command', ['run', '12'], /run needs a command after --/],
    ['freeze --detach without a lease', ['freeze', '12', '--detach'], /--detach needs --max-hold/],
    ['an unknown command', ['freez', '12'], /unknown command 'freez'/],
  ];
  test('--version prints this package’s version, even inside another package’s npm script', async () => {
    const ours = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    const { code, stdout } = await startCli(['--version'], { env: { npm_package_version: '9.9.9' } }).done;
    assert.equal(code, 0);
    assert.equal(stdout.trim(), ours);
  });

  for (const [label, args, reason] of usageErrors) {
    test(`${label}: exit 2, one-line reason and the usage`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^treefreeze: /);
      assert.match(lines[0] ?? '', reason);
      assert.match(lines.at(-1) ?? '', /^usage: treefreeze/);
      assert.equal(result.stdout, '');
    });
  }

  test(
    'a reader that goes away (| head) ends nothing badly: no EPIPE stack, and a hold still thaws',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      for (const args of [
        ['tree', String(tree.root), '--json'],
        ['freeze', String(tree.root), '--for', '300ms', '--json'],
      ]) {
        const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy(); // the reader is gone before anything is written
        let stderr = '';
        child.stderr.on('data', (data) => {
          stderr += data;
        });
        const code = await new Promise((resolve) => child.once('close', resolve));
        assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
        assert.doesNotMatch(stderr, /EPIPE|at /, args.join(' '));
        assertNoneStopped(tree.pids);
      }
      tree.kill();
    },
  );

  test('with --json a usage error is a JSON error on stdout too (code USAGE); words after -- are not options', async () => {
    const usage = await runCli(['freeze', '12abc', '--json']);
    assert.equal(usage.code, 2);
    const error = only(parseEvents(usage.stdout), 'error');
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, /^target: "12abc" is not a process id/);
    assert.match(usage.stderr, /^treefreeze: target: "12abc" is not a process id/);
    // run's command may take --json itself: that is not treefreeze's --json.
    const notOurs = await runCli(['run', '1', '--', 'echo', '--json']);
    assert.equal(notOurs.code, 1);
    assert.equal(notOurs.stdout, '');
  });

  test('freeze of a thread id exits 1 naming its process, nothing stopped', T, async () => {
    const tree = await startTree('tree', 2, 3);
    const tid = readdirSync(`/proc/${tree.root}/task`)
      .map(Number)
      .find((id) => id !== tree.root) as number;
    const result = await runCli(['freeze', String(tid), '--for', '1s']);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `treefreeze: ${tid} is a thread of process ${tree.root}, not a process: give ${tree.root} (its threads are always frozen together)\n`,
    );
    assertNoneStopped(tree.pids);
    tree.kill();
  });

  test('freeze of a missing pid and of pid 1 exit 1 with a clear message, nothing stopped', T, async () => {
    const sentinel = await startTree('tree', 2, 1);
    const missing = unusedPid();
    const none = await runCli(['freeze', String(missing)]);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, `treefreeze: no process with pid ${missing}\n`);
    const literal = await runCli(['freeze', '999999']); // above any pid_max: never a process
    assert.equal(literal.code, 1);
    assert.equal(literal.stderr, 'treefreeze: no process with pid 999999\n');
    // Beyond the kernel's largest pid_max (2^22): a usage error, not a missing process.
    for (const beyond of ['4194305', '9007199254740992']) {
      const refused = await runCli(['freeze', beyond]);
      assert.equal(refused.code, 2, beyond);
      assert.match(
        refused.stderr,
        new RegExp(`^treefreeze: target: "${beyond}" is not a process id: no pid is above 4194304\n`),
      );
    }
    const init = await runCliAlone(['freeze', '1', '--json']);
    assert.equal(init.code, 1);
    assert.match(init.stderr, /^treefreeze: refusing to freeze pid 1/);
    assert.equal(only(parseEvents(init.stdout), 'error').code, 'UNSAFE_TARGET');
    assertNoneStopped(sentinel.pids);
    assert.ok(!hasStopped(taskStates(process.pid)));
    sentinel.kill();
  });
});

describe('JSON output shapes', () => {
  test(
    'freeze and run write schema-valid JSON Lines events as they happen; thaw and tree one document',
    T,
    async () => {
      const tree = await startTree('tree', 3, 2);
      const root = String(tree.root);

      // freeze: "frozen" as soon as the tree is frozen, before the hold ends.
      const held = startCli(['freeze', root, '--for', '600ms', '--json']);
      let early = '';
      held.child.stdout?.on('data', (data) => {
        early += data;
      });
      assert.ok(
        await eventually(() => early.includes('"event":"frozen"'), 10_000),
        'frozen is written at once',
      );
      assert.ok(!early.includes('"event":"thawed"'), 'thawed only when it thaws');
      const freeze = parseEvents((await held.done).stdout);
      assert.deepEqual(
        freeze.map((event) => event.event),
        ['frozen', 'thawed'],
      );
      const frozen = only(freeze, 'frozen');
      assert.equal(frozen.command, 'freeze');
      assert.equal(frozen.processes.length, 3);
      assert.deepEqual(Object.keys(frozen.processes[0]).sort(), [...PROCESS_KEYS].sort());
      assert.equal(only(freeze, 'thawed').thawReason, 'timer');

      // run: the events go to --json-fd only; stdout is the command's.
      const run = await runCli(['run', root, '--json', '--json-fd', '3', '--', 'echo', 'hello']);
      assert.equal(run.stdout, 'hello\n');
      const ran = parseEvents(run.fd3);
      assert.deepEqual(
        ran.map((event) => event.event),
        ['frozen', 'thawed'],
      );
      const ended = only(ran, 'thawed');
      assert.equal(ended.exitCode, 0);
      assert.equal(ended.commandExitCode, 0);
      assert.deepEqual(ended.argv, ['echo', 'hello']);
      const refused = await runCli(['run', root, '--json', '--', 'true']);
      assert.equal(refused.code, 2, 'run --json without --json-fd is a usage error');
      assert.match(only(parseEvents(refused.stdout), 'error').message, /--json-fd/);

      process.kill(tree.pids[1] as number, 'SIGSTOP');
      assert.ok(await eventually(() => taskStates(tree.pids[1] as number) === 'TT'));
      const thaw = JSON.parse((await runCli(['thaw', root, '--json'])).stdout);
      assert.deepEqual(thaw, {
        command: 'thaw',
        root: tree.root,
        dryRun: false,
        resumed: [{ pid: tree.pids[1], comm: 'treefix' }],
        frozenCgroup: null,
      });
      assertNoneStopped(tree.pids);

      const shown = JSON.parse((await runCli(['tree', root, '--json'])).stdout);
      assert.equal(shown.command, 'tree');
      assert.equal(shown.processes.length, 3);
      for (const entry of shown.processes) {
        assert.deepEqual(Object.keys(entry).sort(), [...TREE_KEYS].sort());
        assert.match(entry.taskStates, /^[RS]{2}$/);
      }
      tree.kill();
    },
  );
});

describe('tree and demo', () => {
  test('tree shows every process with state, threads and name', T, async () => {
    const tree = await startTree('comm', 'a) R (b');
    const result = await runCli(['tree', String(tree.root)]);
    assert.equal(result.code, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', new RegExp(`^\\s*${tree.root}  S\\s+2 thr  a\\) R \\(b$`));
    assert.match(lines[1] ?? '', /^ {2}\s*\d+ {2}S\s+2 thr {2}a\) R \(b$/);
    assert.equal(result.stderr, '2 processes, 4 threads\n');
    tree.kill();
  });

  test(
    'tree draws every process directly under its own parent (depth first), in both outputs',
    T,
    async () => {
      const tree = await startTree('tree', 13, 1); // fan-out 3: breadth-first order would misplace children
      const json = JSON.parse((await runCli(['tree', String(tree.root), '--json'])).stdout);
      const entries = json.processes as { pid: number; ppid: number; depth: number }[];
      assert.equal(entries.length, 13);
      assert.equal(entries[0]?.depth, 0);
      entries.forEach((entry, index) => {
        if (index === 0) return;
        const parent = entries
          .slice(0, index)
          .reverse()
          .find((other) => other.depth === entry.depth - 1);
        assert.equal(
          parent?.pid,
          entry.ppid,
          `${entry.pid} drawn under ${parent?.pid}, its parent is ${entry.ppid}`,
        );
      });
      const human = (await runCli(['tree', String(tree.root)])).stdout.trimEnd().split('\n');
      assert.deepEqual(
        human.map((line) => Number(line.trim().split(/\s+/)[0])),
        entries.map((entry) => entry.pid),
      );
      tree.kill();
    },
  );

  test('demo exits 0 and shows the hold and the resume', T, async () => {
    const result = await runCli(['demo']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /no heartbeat during the [\d.]+ s hold \(0 heartbeats\)/);
    assert.match(result.stdout, /heartbeats resumed from all 3 workers/);
    const group = Number(/process group (\d+)/.exec(result.stdout)?.[1]);
    assert.ok(group > 1);
    assert.ok(await eventually(() => taskStates(group) === '', 10_000), 'the demo cleaned up');
  });
});

describe('--json-fd', () => {
  test(
    'implies --json; a descriptor not given, or read-only, is a usage error before anything is frozen',
    T,
    async () => {
      const tree = await startTree('tree', 2, 1);
      const given = await runCli(['freeze', String(tree.root), '--for', '100ms', '--json-fd', '3']);
      assert.equal(given.code, 0, given.stderr);
      assert.deepEqual(
        parseEvents(given.fd3).map((event) => event.event),
        ['frozen', 'thawed'],
        'the events, without --json',
      );
      // fd 9 was not given: Node's own descriptors are open too (a write to its epoll failed with EINVAL).
      const notGiven = await runCli(['freeze', String(tree.root), '--for', '100ms', '--json-fd', '9']);
      assert.equal(notGiven.code, 2, notGiven.stderr);
      assert.match(
        notGiven.stderr,
        /^treefreeze: --json-fd: file descriptor 9 (is not open|was not given to treefreeze)/,
      );
      const file = join(mkdtempSync(join(tmpdir(), 'treefreeze-fd-')), 'events');
      writeFileSync(file, '');
      const readOnly = openSync(file, 'r');
      const child = spawn(process.execPath, [cliPath, 'freeze', String(tree.root), '--json-fd', '3'], {
        stdio: ['ignore', 'pipe', 'pipe', readOnly],
      });
      let stderr = '';
      child.stderr?.on('data', (data) => {
        stderr += data;
      });
      const code = await new Promise((resolve) => child.once('close', resolve));
      closeSync(readOnly);
      rmSync(dirname(file), { recursive: true, force: true });
      assert.equal(code, 2, stderr);
      assert.match(stderr, /file descriptor 3 is open for reading only/);
      assertNoneStopped(tree.pids);
      tree.kill();
    },
  );
});

describe('docs/cli.md', () => {
  test('the CLI reference matches --help', async () => {
    const readme = readFileSync(join(repoRoot, 'docs/cli.md'), 'utf8');
    for (const command of ['', 'freeze', 'run', 'release', 'thaw', 'tree', 'status', 'completion', 'demo']) {
      const args = command ? [command, '--help'] : ['--help'];
      const help = (await runCli(args)).stdout.trimEnd();
      const marker = `treefreeze ${command ? `${command} ` : ''}--help`;
      const block = new RegExp(`\\$ ${marker}\\n([\\s\\S]*?)\\n\`\`\``).exec(readme)?.[1];
      assert.equal(block, help, `docs/cli.md block for "${marker}" is out of date`);
    }
  });

  test('the man page carries every command and option --help shows', async () => {
    freshBuild();
    const man = readFileSync(join(repoRoot, 'dist/treefreeze.1'), 'utf8').replace(/\\-/g, '-');
    for (const command of ['freeze', 'run', 'release', 'thaw', 'tree', 'status', 'completion', 'demo']) {
      const help = (await runCli([command, '--help'])).stdout;
      assert.ok(man.includes(`.SS "${command} `), `the man page has no section for ${command}`);
      const options = [...help.matchAll(/^ {2}(-[^\n]*?)(?: {2,}|$)/gm)].map((match) =>
        (match[1] as string).trim(),
      );
      assert.ok(options.length > 0, `${command} --help lists options`);
      for (const option of options)
        assert.ok(man.includes(option), `the man page lacks ${command} ${option}`);
    }
  });
});

const PROCESS_KEYS = ['pid', 'ppid', 'comm', 'threads', 'startTime', 'wasStopped', 'traced'];
const TREE_KEYS = ['pid', 'ppid', 'comm', 'state', 'taskStates', 'threads', 'startTime', 'children', 'depth'];
