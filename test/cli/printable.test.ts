/**
 * Outside text on a terminal: printable() itself, and the built CLI run against a real
 * process whose name holds an escape sequence, a newline, a C1 control and a bidi override.
 * Every human line must show them escaped; --json must keep the name exact.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { jsonLine, printable } from '../../src/cli/printable.js';
import { fitLine } from '../../src/cli/style.js';
import {
  allRunning,
  cleanupTrees,
  cliPath,
  eventually,
  freshBuild,
  hasStopped,
  inCI,
  runCli,
  runningHolders,
  startTree,
  taskStates,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
const ESC = String.fromCharCode(0x1b);

/** A process name (13 bytes of the 15 comm holds): red text, a line break, a right-to-left override, CSI in C1. */
const HOSTILE = `${ESC}[31mA\nB\u202e\u009b`;
/** How it must read on a terminal. */
const SHOWN = '\\x1b[31mA\\nB\\u202e\\x9b';

/** Holders started by freeze --detach here: ended whatever an assertion does. */
const holders = new Set<number>();

after(async () => {
  for (const pid of runningHolders(holders)) process.kill(pid, 'SIGTERM'); // a holder thaws as it ends
  assert.ok(await eventually(() => runningHolders(holders).length === 0, 10_000), 'no holder left');
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** C0 (but the line ends), DEL, C1, and the formatting characters that reorder or hide text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** `text` holds nothing a terminal would obey but its line ends; `lines` of them, if given. */
function assertSafe(text: string, what: string, lines?: number): void {
  const found = UNSAFE.exec(text.replace(/\n/g, ''));
  assert.equal(found, null, `${what}: raw ${JSON.stringify(found?.[0])} in ${JSON.stringify(text)}`);
  if (lines !== undefined) {
    assert.equal(text.split('\n').length - 1, lines, `${what}: ${JSON.stringify(text)}`);
    assert.ok(text.endsWith('\n'), `${what}: ${JSON.stringify(text)}`);
  }
}

test('printable escapes control, formatting and backslash characters, and nothing else', () => {
  const table: [string, string][] = [
    ['plain text (pid 812)', 'plain text (pid 812)'],
    ['café 日本 ❄ – “x”', 'café 日本 ❄ – “x”'],
    [`${ESC}[2J${ESC}]0;title\x07`, '\\x1b[2J\\x1b]0;title\\x07'],
    ['a\nb', 'a\\nb'],
    ['a\rb', 'a\\rb'],
    ['a\tb', 'a\\tb'],
    ['a\x00b', 'a\\x00b'],
    ['a\x7fb', 'a\\x7fb'],
    ['a\u009b31mb', 'a\\x9b31mb'],
    ['a\\x1bb', 'a\\\\x1bb'], // a name that spells an escape cannot pass for one
    ['a\u202eb', 'a\\u202eb'],
    ['a\u200bb\ufeff', 'a\\u200bb\\ufeff'],
    ['soft\u00adhyphen\u061cmark\u3164filler\ufff9', 'soft\\xadhyphen\\u061cmark\\u3164filler\\ufff9'],
    ['tag\u{e0041}\u{e007f}', 'tag\\u{e0041}\\u{e007f}'],
    ['emoji 😀 stays', 'emoji 😀 stays'],
    [HOSTILE, SHOWN],
    ['', ''],
  ];
  for (const [input, expected] of table) assert.equal(printable(input), expected, JSON.stringify(input));
});

test('jsonLine is the same JSON, with what JSON.stringify leaves raw for a terminal escaped', () => {
  const value = { label: `C1\u009b DEL\x7f rlo\u202e tag\u{e0041} ${ESC}[2J café 😀`, n: 1 };
  const line = jsonLine(value);
  assert.ok(line.endsWith('}\n'));
  assert.deepEqual(JSON.parse(line), value, 'the same document');
  const raw = [...line.slice(0, -1)].filter((char) => {
    const code = char.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x202e || code >= 0xe0000;
  });
  assert.deepEqual(raw, [], JSON.stringify(line));
  assert.match(line, /\\u009b.*\\u007f.*\\u202e.*\\udb40\\udc41.*\\u001b/);
  assert.match(line, /café 😀/, 'printable text stays as it is');
});

test('fitLine escapes each segment, measures the escaped text, and keeps its own colours', () => {
  const segments = [
    { text: `frozen 2 processes of ${HOSTILE} (pid 9)`, style: 'cyan' as const },
    { text: 'held 1 s' },
  ];
  const painted = fitLine(segments, 200, true);
  assert.equal(painted, `${ESC}[36mfrozen 2 processes of ${SHOWN} (pid 9)${ESC}[0m · held 1 s`);
  const cut = fitLine(segments, 30, false);
  assert.equal(cut, `frozen 2 processes of ${SHOWN.slice(0, 7)}…`, 'cut by the escaped width');
  assertSafe(cut, 'a cut line');
});

/** Runs `args` of the built CLI in a pseudo-terminal 200 columns wide (NO_COLOR); what it printed, and its code. */
function inTerminal(args: string[]): Promise<{ output: string; code: number | null }> {
  freshBuild();
  const command = [process.execPath, cliPath, ...args].join(' '); // pids and plain words only
  const child = spawn('script', ['-qfec', `stty cols 200 rows 50; exec ${command}`, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (data) => {
    output += data;
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ output, code })));
}

describe('the CLI on a process named with control characters', () => {
  test('tree: each name escaped on its own line; --json gives the exact name back', T, async () => {
    const tree = await startTree('comm', HOSTILE);
    const human = await runCli(['tree', String(tree.root)]);
    assert.equal(human.code, 0, human.stderr);
    assertSafe(human.stdout, 'tree stdout', 2);
    assertSafe(human.stderr, 'tree stderr', 1);
    const lines = human.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^\\s*${tree.root}  S\\s+2 thr  ${escapeRegExp(SHOWN)}$`));
    assert.ok(lines[1]?.endsWith(`thr  ${SHOWN}`), lines[1]);

    const json = await runCli(['tree', String(tree.root), '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(json.stdout.split('\n').length, 2, 'one JSON line');
    const report = JSON.parse(json.stdout);
    assert.deepEqual(
      report.processes.map((p: { comm: string }) => p.comm),
      [HOSTILE, HOSTILE],
    );
    assert.equal(report.targets[0].label, `${HOSTILE} (pid ${tree.root})`);
    tree.kill();
  });

  test('freeze --for: the status line on a terminal, and the plain lines off one', T, async (t) => {
    const tree = await startTree('comm', HOSTILE);
    const plain = await runCli(['freeze', String(tree.root), '--for', '200ms']);
    assert.equal(plain.code, 0, plain.stderr);
    assertSafe(plain.stderr, 'freeze stderr', 2);
    assert.equal(plain.stdout, '');
    assert.ok(allRunning(tree.pids), 'thawed');

    if (!(await canUseTerminal(t))) return tree.kill();
    const { output, code } = await inTerminal(['freeze', String(tree.root), '--for', '700ms']);
    assert.equal(code, 0, output);
    // The status line's own redraws (\r, erase line) and the terminal's \r\n are the only controls.
    const text = output.replaceAll(`\r${ESC}[2K`, '').replaceAll('\r\n', '\n');
    assertSafe(text, 'freeze on a terminal');
    assert.ok(text.includes(`of ${SHOWN} (pid ${tree.root})`), JSON.stringify(output));
    assert.ok(allRunning(tree.pids), 'thawed');
    tree.kill();
  });

  test('freeze --dry-run, by pid and by the name itself', T, async () => {
    // A name of this run's own (15 bytes, as comm holds): another copy of the suite has its own.
    const hostile = `${ESC}[2J\n\u202e${randomBytes(4).toString('hex').slice(0, 7)}`;
    const shown = printable(hostile);
    const tree = await startTree('comm', hostile);
    for (const target of [String(tree.root), hostile]) {
      const dry = await runCli(['freeze', target, '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assertSafe(dry.stdout, `freeze ${JSON.stringify(target)} --dry-run`, 1);
      assert.equal(
        dry.stdout,
        `would freeze ${shown} (pid ${tree.root}): 2 processes (${tree.pids.join(', ')})\n`,
      );
      const json = JSON.parse((await runCli(['freeze', target, '--dry-run', '--json'])).stdout);
      assert.equal(json.targets[0].label, `${hostile} (pid ${tree.root})`, '--json keeps the label exact');
    }
    assert.ok(allRunning(tree.pids), 'nothing was frozen');
    tree.kill();
  });

  test('errors quote the target escaped: no such name, not a pid, a command that cannot run', T, async () => {
    const tree = await startTree('comm', HOSTILE);
    const name = `${HOSTILE}-none`;
    const missing = await runCli(['freeze', name, '--for', '200ms']);
    assert.equal(missing.code, 1);
    assertSafe(missing.stderr, 'no such name', 1);
    assert.match(
      missing.stderr,
      new RegExp(`^treefreeze: no process is named "${escapeRegExp(`${SHOWN}-none`)}"`),
    );
    const json = JSON.parse((await runCli(['freeze', name, '--json'])).stdout);
    assert.ok(json.message.includes(`"${name}"`), '--json keeps the message exact');

    const usage = await runCli(['freeze', `12${HOSTILE}`]);
    assert.equal(usage.code, 2);
    assertSafe(usage.stderr, 'usage error', 2);
    assert.ok(usage.stderr.startsWith(`treefreeze: target: "12${SHOWN}" is not a process id`), usage.stderr);
    const suggested = await runCli(['freez', '12']);
    assert.match(
      suggested.stderr,
      /^treefreeze: unknown command 'freez'\n\(Did you mean freeze\?\)\nusage: /,
    );

    const run = await runCli(['run', String(tree.root), '--', `no-such-${HOSTILE}`]);
    assert.equal(run.code, 127);
    assert.equal(
      run.stderr,
      `treefreeze: cannot run no-such-${SHOWN}: command not found; nothing was frozen\n`,
    );
    assert.ok(allRunning(tree.pids), 'nothing was frozen');
    tree.kill();
  });

  test('thaw names the processes it resumes escaped', T, async () => {
    const tree = await startTree('comm', HOSTILE);
    const child = tree.pids[1] as number;
    process.kill(child, 'SIGSTOP');
    try {
      assert.ok(await eventually(() => hasStopped(taskStates(child))), 'stopped');
      const dry = await runCli(['thaw', String(tree.root), '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assertSafe(dry.stderr, 'thaw --dry-run', 1);
      assert.equal(dry.stderr, `would resume 1 process: ${child} (${SHOWN})\n`);
      const thawed = await runCli(['thaw', String(tree.root)]);
      assert.equal(thawed.code, 0, thawed.stderr);
      assert.equal(thawed.stderr, `resumed 1 process: ${child} (${SHOWN})\n`);
      assert.ok(await eventually(() => allRunning(tree.pids)), 'resumed');
    } finally {
      process.kill(child, 'SIGCONT');
      tree.kill();
    }
  });

  test('freeze --detach names what it froze escaped', T, async () => {
    const tree = await startTree('comm', HOSTILE);
    const result = await runCli(['freeze', String(tree.root), '--detach', '--for', '500ms']);
    const holder = Number(/held in the background as \S+ \(pid (\d+)\)/.exec(result.stderr)?.[1]);
    if (holder > 0) holders.add(holder);
    assert.equal(result.code, 0, result.stderr);
    assertSafe(result.stderr, 'freeze --detach', 1);
    assert.ok(
      result.stderr.startsWith(`froze 2 processes of ${SHOWN} (pid ${tree.root}); held`),
      result.stderr,
    );
    assert.ok(await eventually(() => allRunning(tree.pids)), 'thawed when --for ran out');
    assert.ok(await eventually(() => runningHolders([holder]).length === 0), 'the holder exited');
    tree.kill();
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** script(1) gives the command a pseudo-terminal; CI has it (util-linux). */
async function canUseTerminal(t: { skip: (reason: string) => void }): Promise<boolean> {
  const found = await new Promise<boolean>((resolve) =>
    spawn('script', ['--version'], { stdio: 'ignore' })
      .once('error', () => resolve(false))
      .once('close', (code) => resolve(code === 0)),
  );
  if (found) return true;
  assert.ok(!inCI, 'CI has util-linux script');
  t.skip('needs script(1) for a pseudo-terminal');
  return false;
}
