/**
 * `run`: freeze, run a command while the tree is held, thaw when the command exits, and exit
 * with its code (or with HOLD_BROKEN when the command saw a tree that was not frozen).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { count } from '../base/errors.js';
import type { FrozenTree } from '../hold/frozen-tree.js';
import { signalChild } from '../kernel/child-signal.js';
import { findCommand } from './command-path.js';
import { formatDuration } from './duration.js';
import { type EventSink, eventSink, frozenEvent, heldMs as heldFor, thawedEvent } from './event-writer.js';
import { EXIT } from './exit-codes.js';
import { freeze, type HoldOptions, thawHeld } from './hold.js';
import { breachPrinter, reportHoldEnd, summary } from './hold-output.js';
import { printable } from './printable.js';
import { type RegisteredHold, registerHold } from './registered-hold.js';
import { openRuntimeDir } from './runtime-dir.js';
import { onStopSignals, type StopSignal } from './stop-signals.js';

/** How the command ended: by itself (its code), by a signal, or without starting (error). */
interface CommandOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export async function runFrozen(options: HoldOptions, commandLine: string[]): Promise<number> {
  const [file, ...args] = commandLine as [string, ...string[]];
  // Before the freeze: a command that cannot run must not cost the tree a freeze.
  const cannotRun = refuseUnrunnable(file);
  if (cannotRun !== undefined) return cannotRun;
  const registry = openRuntimeDir();
  const abort = new AbortController();
  let forward: (signal: StopSignal) => void = (signal) => abort.abort(new Error(`received ${signal}`));
  const removeHandlers = onStopSignals((signal) => forward(signal));
  try {
    const events = options.json ? eventSink(options.jsonFd as number) : undefined;
    let registered: RegisteredHold | undefined;
    const printBreach = breachPrinter(options, () => {}, events);
    const frozen = await freeze(options, abort.signal, printBreach, () => registered);
    let thawRequested = false;
    registered = await registerHold(registry, 'run', options.targets, frozen, {
      // `thaw <id>` of a run: the command is asked to end, as on SIGTERM; the thaw follows it.
      onThawRequest: () => {
        thawRequested = true;
        forward('SIGTERM');
      },
      detached: false,
      watchdog: options.watchdog,
      maxHoldMs: options.maxHoldMs,
    });
    const hold = registered;
    events?.({ ...frozenEvent('run', options, frozen), hold: hold.id });
    if (!options.json) process.stderr.write(`${summary(frozen)}; running ${printable(file)}\n`);
    const earlyEnd = watchEarlyEnd(frozen, options);
    const outcome = await runCommand(file, args, (child) => {
      forward = (signal) => signalChild(child, signal); // the command decides how to end
      if (thawRequested) signalChild(child, 'SIGTERM');
    });
    // Read as the command exits: a hold that ended before it did (lease, tree gone) did not cover it.
    const early = frozen.frozen ? undefined : earlyEnd();
    const endedEarly = frozen.frozen ? undefined : (early?.how ?? 'lease');
    await thawHeld(frozen, hold, options);
    // From the last task confirmed stopped to the thaw (or to the moment the hold ended before it).
    const heldMs = heldFor(frozen);
    const exitCode = commandExitCode(file, outcome);
    // A broken hold, or one that ended first, means some of what the command did saw a running tree.
    const covered = frozen.intact && endedEarly === undefined;
    const finalCode =
      covered || options.keepExitCode ? exitCode : frozen.intact ? EXIT.HOLD_ENDED_EARLY : EXIT.HOLD_BROKEN;
    hold.end({ reason: 'command', heldMs, exitCode: finalCode });
    const end = {
      commandLine,
      heldMs,
      exitSignal: outcome.signal,
      commandExitCode: exitCode,
      exitCode: finalCode,
      covered,
      endedEarly,
    };
    reportRunEnd(frozen, hold.id, end, events);
    return finalCode;
  } finally {
    removeHandlers();
  }
}

/** NOT_FOUND or NOT_EXECUTABLE, said on stderr, when `file` cannot be run; else undefined. */
function refuseUnrunnable(file: string): number | undefined {
  const lookup = findCommand(file);
  if ('found' in lookup) return undefined;
  const missing = 'missing' in lookup;
  process.stderr.write(
    `treefreeze: cannot run ${printable(file)}: ${missing ? 'command not found' : 'permission denied'}; nothing was frozen\n`,
  );
  return missing ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
}

/** How a hold can end before its command: the lease, the tree gone, or a failure (its watchdog lost). */
type EarlyEnd = 'lease' | 'exited' | 'failed';

/**
 * The tree thawed while the command runs (the lease ran out, the tree exited, or the hold
 * failed): say so now. Returns how it ended, once it has.
 */
function watchEarlyEnd(
  frozen: FrozenTree,
  options: HoldOptions,
): () => { how: EarlyEnd; at: number } | undefined {
  let ended: { how: EarlyEnd; at: number } | undefined;
  frozen.thawed.then(
    (why) => {
      if (why === 'lease' || why === 'exited') ended = { how: why, at: performance.now() };
      if (options.json) return;
      if (why === 'lease') process.stderr.write('treefreeze: --max-hold ran out: tree thawed\n');
      if (why === 'exited')
        process.stderr.write('treefreeze: every process of the tree exited: hold ended\n');
    },
    (error: Error) => {
      ended = { how: 'failed', at: performance.now() };
      process.stderr.write(`treefreeze: ${printable(error.message)}\n`);
    },
  );
  return () => ended;
}

/** Runs the command with inherited stdio; `started` gets the child before anything can end it. */
function runCommand(
  file: string,
  args: string[],
  started: (child: ChildProcess) => void,
): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    started(child);
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** The command's exit code as a shell gives it (128+n for signal n); says why one could not run. */
function commandExitCode(file: string, outcome: CommandOutcome): number {
  if (outcome.error) {
    const notFound = (outcome.error as NodeJS.ErrnoException).code === 'ENOENT';
    process.stderr.write(
      `treefreeze: cannot run ${printable(file)}: ${notFound ? 'command not found' : printable(outcome.error.message)}\n`,
    );
    return notFound ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
  }
  if (outcome.signal) return EXIT.SIGNAL_BASE + (constants.signals[outcome.signal] ?? 0);
  return outcome.code ?? 1;
}

/** After the thaw: the "thawed" event, or the verdict on stderr and why the exit code is not the command's. */
function reportRunEnd(
  frozen: FrozenTree,
  holdId: string,
  end: {
    commandLine: string[];
    heldMs: number;
    exitSignal: NodeJS.Signals | null;
    commandExitCode: number;
    exitCode: number;
    covered: boolean;
    endedEarly: EarlyEnd | undefined;
  },
  events: EventSink | undefined,
): void {
  if (events) {
    events({
      ...thawedEvent('run', frozen, end.heldMs, {
        argv: end.commandLine,
        commandExitCode: end.commandExitCode,
        exitSignal: end.exitSignal,
        exitCode: end.exitCode,
        covered: end.covered,
      }),
      hold: holdId,
    });
    return;
  }
  reportHoldEnd(frozen);
  // One closing line, whatever happened: how long, intact or not, and how the hold ended.
  const verdict = frozen.intact ? 'intact' : `broken ${count(frozen.breaches.length, 'time')}`;
  const ending =
    end.endedEarly === 'lease'
      ? '--max-hold ran out before the command ended'
      : end.endedEarly === 'exited'
        ? 'every process of the tree exited before the command ended'
        : end.endedEarly === 'failed'
          ? 'the hold failed before the command ended'
          : `thawed when ${printable(end.commandLine[0] as string)} ended`;
  process.stderr.write(
    `treefreeze: held ${count(frozen.processes.length, 'process', 'processes')} for ${formatDuration(end.heldMs)}, ${verdict}; ${ending}\n`,
  );
  if (end.exitCode !== end.commandExitCode) {
    const why = end.exitCode === EXIT.HOLD_BROKEN ? 'hold broken' : 'the hold ended before the command';
    process.stderr.write(
      `treefreeze: exiting with ${end.exitCode} (${why}) instead of the command's ${end.commandExitCode}; --keep-exit-code keeps the command's\n`,
    );
  }
}
