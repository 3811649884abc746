/** `freeze` and `run`: freeze, hold (for a time, a signal, or a command), always thaw. */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { FreezeError } from '../base/errors.js';
import { type LongTimer, setLongTimeout } from '../base/timers.js';
import type { FrozenTree, HoldEvent } from '../hold/frozen-tree.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { findCommand } from './command-path.js';
import { formatDuration } from './duration.js';
import { eventSink, frozenEvent, thawedEvent } from './events.js';
import { EXIT } from './exit-codes.js';
import {
  breachPrinter,
  reportHoldEnd,
  reportWatchdogEvents,
  startStatusLine,
  summary,
} from './hold-output.js';
import { printable } from './printable.js';
import { type RegisteredHold, registerHold } from './registered-hold.js';
import { openRuntimeDir } from './runtime-dir.js';
import { onStopSignals, type StopSignal, watchStdin } from './stop-signals.js';
import { count } from './style.js';
import { freezeTargets, type TargetFreezeOptions } from './targets-hold.js';

export interface HoldOptions extends TargetFreezeOptions {
  /** What to freeze, resolved (see tree/targets.ts): one or more trees or cgroups. */
  targets: ResolvedTarget[];
  json: boolean;
  /** freeze: hold this long (default: until a signal). */
  forMs?: number | undefined;
  /** run: exit with the command's code even when the hold was broken. */
  keepExitCode?: boolean | undefined;
  /** --json: where the JSON Lines events go (freeze: stdout by default; run: --json-fd only). */
  jsonFd?: number | undefined;
  /** freeze: hold while standard input stays open; thaw at EOF or on a line "thaw". */
  untilStdinCloses?: boolean | undefined;
  /** freeze --detach, in the background holder: where to report the freeze (one JSON line), then hold silently. */
  reportFd?: number | undefined;
}

/** freeze --detach's holder tells the waiting command how the freeze went: one JSON line, then it is on its own. */
function reportToParent(fd: number, report: Record<string, unknown>): void {
  try {
    writeSync(fd, `${JSON.stringify(report)}\n`);
    closeSync(fd);
  } catch {
    // the command that started us is gone: hold anyway, the lease bounds it
  }
}

function errorFields(error: unknown) {
  return error instanceof FreezeError
    ? { code: error.code, message: error.message, pids: error.pids }
    : { code: 'FAILED', message: String((error as Error)?.message ?? error), pids: [] };
}

function freeze(
  options: HoldOptions,
  signal: AbortSignal,
  onHoldEvent: (event: HoldEvent) => void,
): Promise<FrozenTree> {
  return freezeTargets(options.targets, options, signal, onHoldEvent);
}

export async function holdFreeze(options: HoldOptions): Promise<number> {
  const registry = openRuntimeDir(); // before the freeze: an unsafe directory freezes nothing
  const abort = new AbortController();
  let received: StopSignal | undefined;
  let wake = () => {};
  let thawRequested = false;
  let requestThaw = () => {};
  const removeHandlers = onStopSignals((signal) => {
    received ??= signal;
    abort.abort(new Error(`received ${signal}`));
    wake();
  });
  let stopStatus = () => {};
  let clearStatus = () => {};
  let keepAlive: NodeJS.Timeout | undefined;
  const events = options.json ? eventSink(options.jsonFd ?? 1) : undefined;
  try {
    let registered: RegisteredHold | undefined;
    const printBreach = breachPrinter(options, () => clearStatus(), events);
    const frozen = await freeze(options, abort.signal, (event) => {
      printBreach(event);
      registered?.update();
    }).catch((error: unknown) => {
      if (options.reportFd !== undefined)
        reportToParent(options.reportFd, { ok: false, error: errorFields(error) });
      throw error;
    });
    const holdStarted = performance.now();
    registered = await registerHold(registry, 'freeze', options.targets, frozen, {
      onThawRequest: () => {
        thawRequested = true;
        requestThaw();
      },
      detached: options.reportFd !== undefined,
      maxHoldMs: options.maxHoldMs,
      forMs: options.forMs,
    });
    const hold = registered;
    events?.({ ...frozenEvent('freeze', options, frozen), hold: hold.id });
    if (options.reportFd !== undefined) {
      reportToParent(options.reportFd, {
        ok: true,
        event: { ...frozenEvent('freeze', options, frozen), hold: hold.id },
      });
    }
    if (!options.json && !process.stderr.isTTY) {
      const until =
        options.forMs === undefined
          ? 'until SIGINT, SIGTERM or SIGHUP'
          : `for ${formatDuration(options.forMs)}`;
      process.stderr.write(`${summary(frozen)}; holding ${until}\n`);
    }
    [stopStatus, clearStatus] = startStatusLine(frozen, options);
    keepAlive = setInterval(() => {}, 1 << 30); // a pending promise alone does not keep Node running
    let timer: LongTimer | undefined;
    let stopStdinWatch = () => {};
    const reason = await new Promise<string>((resolve) => {
      wake = () => resolve('signal');
      requestThaw = () => resolve('request');
      if (thawRequested) resolve('request');
      if (received) resolve('signal');
      // Chained for holds of 2^31 ms (24.8 days) or more: a plain timer would fire at once.
      if (options.forMs !== undefined) timer = setLongTimeout(() => resolve('timer'), options.forMs, true);
      // A failed thaw (the lease's included) is reported by the thaw() below.
      frozen.thawed.then(
        (why) => resolve(why === 'lease' ? 'lease' : 'caller'),
        () => resolve('lease'),
      );
      if (options.untilStdinCloses) stopStdinWatch = watchStdin(() => resolve('stdin'));
    });
    timer?.clear();
    stopStdinWatch();
    try {
      await frozen.thaw();
    } catch (error) {
      hold.fail(error);
      throw error;
    } finally {
      clearInterval(keepAlive);
      stopStatus();
      if (!options.json) reportWatchdogEvents(frozen);
    }
    const heldMs = performance.now() - holdStarted;
    const exitCode = frozen.intact ? EXIT.OK : EXIT.HOLD_BROKEN;
    hold.end({ reason, heldMs, exitCode });
    if (events) {
      events({
        ...thawedEvent('freeze', frozen, heldMs, { thawReason: reason, signal: received ?? null, exitCode }),
        hold: hold.id,
      });
    } else {
      reportHoldEnd(frozen);
      // One end line, in a terminal or not: a log shows when the tree ran again.
      const why =
        reason === 'signal'
          ? ` (${received})`
          : reason === 'lease'
            ? ' (--max-hold ran out)'
            : reason === 'request'
              ? ` (treefreeze thaw ${hold.id})`
              : '';
      const verdict = frozen.intact ? '' : ', hold broken';
      process.stderr.write(
        `thawed ${count(frozen.processes.length, 'process', 'processes')} after ${formatDuration(heldMs)}${why}${verdict}\n`,
      );
    }
    return exitCode;
  } finally {
    // Also when thaw throws: a live interval would keep the CLI running after its error.
    clearInterval(keepAlive);
    stopStatus();
    removeHandlers();
  }
}

export async function runFrozen(options: HoldOptions, commandLine: string[]): Promise<number> {
  const [file, ...args] = commandLine as [string, ...string[]];
  // Before the freeze: a command that cannot run must not cost the tree a freeze.
  const lookup = findCommand(file);
  if (!('found' in lookup)) {
    const missing = 'missing' in lookup;
    process.stderr.write(
      `treefreeze: cannot run ${printable(file)}: ${missing ? 'command not found' : 'permission denied'}; nothing was frozen\n`,
    );
    return missing ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
  }
  const registry = openRuntimeDir();
  const abort = new AbortController();
  let forward: (signal: StopSignal) => void = (signal) => abort.abort(new Error(`received ${signal}`));
  const removeHandlers = onStopSignals((signal) => forward(signal));
  try {
    const events = options.json ? eventSink(options.jsonFd as number) : undefined;
    let registered: RegisteredHold | undefined;
    const printBreach = breachPrinter(options, () => {}, events);
    const frozen = await freeze(options, abort.signal, (event) => {
      printBreach(event);
      registered?.update();
    });
    const holdStarted = performance.now();
    let thawRequested = false;
    registered = await registerHold(registry, 'run', options.targets, frozen, {
      // `thaw <id>` of a run: the command is asked to end, as on SIGTERM; the thaw follows it.
      onThawRequest: () => {
        thawRequested = true;
        forward('SIGTERM');
      },
      detached: false,
      maxHoldMs: options.maxHoldMs,
    });
    const hold = registered;
    events?.({ ...frozenEvent('run', options, frozen), hold: hold.id });
    if (!options.json) process.stderr.write(`${summary(frozen)}; running ${printable(file)}\n`);
    frozen.thawed.then(
      (why) => {
        if (why === 'lease' && !options.json)
          process.stderr.write('treefreeze: --max-hold ran out: tree thawed\n');
      },
      (error: Error) => process.stderr.write(`treefreeze: ${printable(error.message)}\n`),
    );
    const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
      (resolve) => {
        const child = spawn(file, args, { stdio: 'inherit' });
        forward = (signal) => child.kill(signal); // the command decides how to end
        if (thawRequested) child.kill('SIGTERM');
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    try {
      await frozen.thaw();
    } catch (error) {
      hold.fail(error);
      throw error;
    } finally {
      if (!options.json) reportWatchdogEvents(frozen);
    }
    const heldMs = performance.now() - holdStarted;
    let exitCode: number;
    if (outcome.error) {
      const notFound = (outcome.error as NodeJS.ErrnoException).code === 'ENOENT';
      process.stderr.write(
        `treefreeze: cannot run ${printable(file)}: ${notFound ? 'command not found' : printable(outcome.error.message)}\n`,
      );
      exitCode = notFound ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
    } else if (outcome.signal) {
      exitCode = 128 + (constants.signals[outcome.signal] ?? 0);
    } else {
      exitCode = outcome.code ?? 1;
    }
    // A broken hold means whatever the command did saw a tree that was not frozen.
    const finalCode = frozen.intact || options.keepExitCode ? exitCode : EXIT.HOLD_BROKEN;
    hold.end({ reason: 'command', heldMs, exitCode: finalCode });
    if (events) {
      events({
        ...thawedEvent('run', frozen, heldMs, {
          argv: commandLine,
          commandExitCode: exitCode,
          exitSignal: outcome.signal,
          exitCode: finalCode,
        }),
        hold: hold.id,
      });
    } else {
      reportHoldEnd(frozen);
      if (finalCode !== exitCode) {
        process.stderr.write(
          `treefreeze: exiting with ${EXIT.HOLD_BROKEN} (hold broken) instead of the command's ${exitCode}; --keep-exit-code keeps the command's\n`,
        );
      }
    }
    return finalCode;
  } finally {
    removeHandlers();
  }
}
