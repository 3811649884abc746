/**
 * What each command does, once its arguments are parsed: loaded only when a command runs, so
 * that `--help`, `--version` and usage errors do not load the freezer, koffi or the cgroup code.
 */
import { count, FreezeError, listPids } from '../base/errors.js';
import { frozenCgroupHolding } from '../kernel/cgroupfs.js';
import { PID_MAX_LIMIT, readProcessStat } from '../kernel/procfs.js';
import { thawCgroup, thawTree } from '../thaw.js';
import { listTree } from '../tree/discovery.js';
import { type ResolvedTarget, resolveTargets } from '../tree/targets.js';
import { runDemo } from './demo.js';
import { detachHold, HOLDER_FD_VARIABLE } from './detach.js';
import { eventSink, targetSummary } from './event-writer.js';
import { type HoldOptions, holdFreeze } from './hold.js';
import { HOLD_ID } from './hold-registry.js';
import { jsonLine, printable } from './printable.js';
import { runFrozen } from './run-frozen.js';
import { myUid, openRuntimeDir } from './runtime-dir.js';
import { collectStatus, printStatus } from './status.js';
import { paint, useColor } from './style.js';
import { refuseFarAhead, thawHoldById, waitUntil } from './thaw-hold.js';
import { describeTree, renderTree } from './tree-view.js';
import {
  type FreezeCliOptions,
  TARGET_FORMS,
  type TargetCliOptions,
  type ThawCliOptions,
  UsageError,
} from './usage.js';

type SetExitCode = (code: number) => void;

export { release } from './release-hold.js';

/** The targets named on the command line (operands, and --cgroup), resolved; none is a usage error. */
function resolveCliTargets(specs: string[], options: TargetCliOptions): ResolvedTarget[] {
  const all = [...specs, ...(options.cgroup !== undefined ? [`cgroup:${options.cgroup}`] : [])];
  if (all.length === 0) throw new UsageError(`missing target: give ${TARGET_FORMS}`);
  for (const spec of specs) {
    // A number that is not a pid (negative numbers never reach here: they read as options).
    if ((/^[+-]?\d/.test(spec) && !/^\d+$/.test(spec)) || /^0+$/.test(spec)) {
      throw new UsageError(
        `target: "${spec}" is not a process id (a positive integer); a process with that name: name:${spec}`,
      );
    }
    if (/^\d+$/.test(spec) && Number(spec) > PID_MAX_LIMIT) {
      throw new UsageError(`target: "${spec}" is not a process id: no pid is above ${PID_MAX_LIMIT}`);
    }
    const port = /^:(\d+)$/.exec(spec);
    if (port && !(Number(port[1]) >= 1 && Number(port[1]) <= 65535)) {
      throw new UsageError(`target: ${spec}: a port is a number from 1 to 65535`);
    }
  }
  return resolveTargets(all, { all: options.all, cmd: options.cmd });
}

/** --dry-run: what would be frozen, without freezing anything. */
function printDryRun(command: 'freeze' | 'run', targets: ResolvedTarget[], json: boolean): void {
  const shown = targets.map((target) => {
    const processes = target.root !== undefined ? listTree(target.root).map((node) => node.pid) : target.pids;
    return { ...targetSummary(target), pids: processes };
  });
  if (json) {
    eventSink(1)({ event: 'dry-run', command, targets: shown });
    return;
  }
  for (const target of shown) {
    process.stdout.write(
      `would freeze ${printable(target.label)}: ${count(target.pids.length, 'process', 'processes')} (${listPids(target.pids, 10) || 'none'})\n`,
    );
  }
}

function holdOptions(targets: ResolvedTarget[], options: FreezeCliOptions): HoldOptions {
  return {
    targets,
    backend: options.backend,
    childrenOnly: Boolean(options.childrenOnly),
    exclude: options.exclude ?? [],
    timeoutMs: options.timeout,
    maxHoldMs: options.maxHold,
    watchdog: options.watchdog,
    join: Boolean(options.join),
    json: Boolean(options.json),
    forMs: options.for,
    onBreach: options.onBreach,
    checkIntervalMs: options.checkInterval,
    keepExitCode: Boolean(options.keepExitCode),
    jsonFd: options.jsonFd,
  };
}

/**
 * run's operands: the targets before `--`, the command after it. Without `--`, the first
 * operand is the target and the rest the command (with --cgroup, all of them are the command).
 */
function splitAtDashDash(
  argv: readonly string[],
  operands: string[],
  cgroupGiven: boolean,
): [string[], string[]] {
  const dashDash = argv.indexOf('--');
  if (dashDash >= 0) {
    const command = argv.slice(dashDash + 1);
    return [operands.slice(0, operands.length - command.length), command];
  }
  return cgroupGiven ? [[], operands] : [operands.slice(0, 1), operands.slice(1)];
}

/** The processes of a cgroup whose parent is outside it: the roots of its trees. */
function cgroupRoots(pids: number[]): number[] {
  const inside = new Set(pids);
  return pids.filter((pid) => {
    const stat = readProcessStat(pid); // one read: gone, or its parent outside the cgroup
    return stat !== null && !inside.has(stat.ppid);
  });
}

function thawOneCgroup(path: string, dryRun: boolean, json: boolean): void {
  const thawed = thawCgroup(path, { dryRun });
  if (json) {
    process.stdout.write(jsonLine({ command: 'thaw', dryRun, ...thawed }));
  } else if (dryRun) {
    process.stderr.write(
      `${thawed.wasFrozen ? 'would thaw' : 'nothing to thaw: not frozen:'} cgroup ${printable(thawed.path)}\n`,
    );
  } else {
    process.stderr.write(
      `${thawed.wasFrozen ? 'thawed' : 'was not frozen:'} cgroup ${printable(thawed.path)}\n`,
    );
  }
}

function thawOneTree(pid: number, options: ThawCliOptions, dryRun: boolean): void {
  const resumed = thawTree(pid, {
    includeRoot: !options.childrenOnly,
    dryRun,
    machineWide: Boolean(options.machineWide),
  });
  // Frozen by a cgroup freezer, a process reads S, not T: say which cgroup to thaw instead.
  const frozenCgroup = resumed.length === 0 ? frozenCgroupHolding(pid) : null;
  if (options.json) {
    process.stdout.write(jsonLine({ command: 'thaw', root: pid, dryRun, resumed, frozenCgroup }));
  } else if (resumed.length === 0) {
    const cgroup = frozenCgroup ? printable(frozenCgroup) : null;
    const hint = cgroup ? `; it is in frozen cgroup ${cgroup}: treefreeze thaw --cgroup ${cgroup}` : '';
    process.stderr.write(`nothing to resume: no process in the tree of ${pid} is stopped${hint}\n`);
  } else {
    const list = resumed.map((p) => `${p.pid} (${printable(p.comm)})`).join(', ');
    const verb = dryRun ? 'would resume' : 'resumed';
    process.stderr.write(`${verb} ${count(resumed.length, 'process', 'processes')}: ${list}\n`);
  }
}

export async function freeze(
  specs: string[],
  options: FreezeCliOptions,
  argv: readonly string[],
  setExitCode: SetExitCode,
): Promise<void> {
  if (options.jsonFd !== undefined) options.json = true; // --json-fd N means the events, there
  if (options.detach && options.untilStdinCloses) {
    throw new UsageError(
      '--detach and --until-stdin-closes do not go together: a detached hold has no input',
    );
  }
  const holderFd = process.env[HOLDER_FD_VARIABLE];
  delete process.env[HOLDER_FD_VARIABLE]; // not for anything this process starts
  const reportFd = holderFd !== undefined && /^\d+$/.test(holderFd) ? Number(holderFd) : undefined;
  if (options.prepare && !options.untilStdinCloses && !options.detach && reportFd === undefined) {
    throw new UsageError(
      '--prepare needs --until-stdin-closes (orders on standard input) or --detach (orders by treefreeze release and thaw)',
    );
  }
  if (options.detach && options.maxHold === undefined && options.for === undefined) {
    throw new UsageError('--detach needs --max-hold (or --for): nobody is there to thaw a forgotten hold');
  }
  const targets = resolveCliTargets(specs, options);
  if (options.dryRun) return printDryRun('freeze', targets, Boolean(options.json));
  if (options.detach) {
    openRuntimeDir(); // refused here, in one line, rather than by the background holder
    setExitCode(await detachHold(argv, options.timeout, Boolean(options.json), options.maxHold));
    return;
  }
  setExitCode(
    await holdFreeze({
      ...holdOptions(targets, options),
      reportFd,
      untilStdinCloses: Boolean(options.untilStdinCloses),
      prepareWithinMs: options.prepare ? options.prepareTimeout : undefined,
    }),
  );
}

export async function run(
  operands: string[],
  options: FreezeCliOptions,
  argv: readonly string[],
  setExitCode: SetExitCode,
): Promise<void> {
  if (options.jsonFd !== undefined) options.json = true; // --json-fd N means the events, there
  const [specs, commandLine] = splitAtDashDash(argv, operands, options.cgroup !== undefined);
  if (commandLine.length === 0 && !options.dryRun) throw new UsageError('run needs a command after --');
  const targets = resolveCliTargets(specs, options);
  if (options.dryRun) return printDryRun('run', targets, Boolean(options.json));
  if (options.json && options.jsonFd === undefined) {
    throw new UsageError(
      "run --json needs --json-fd N: the command's own output uses stdout (e.g. --json-fd 3 3>events.jsonl)",
    );
  }
  setExitCode(await runFrozen(holdOptions(targets, options), commandLine));
}

/**
 * Whether a thaw operand names a hold: anything that starts with "tf-" in any case (a process
 * of that name is `name:tf-…`). A capitalised id is the same hold; a malformed one is no hold.
 */
const LOOKS_LIKE_HOLD = /^tf-/i;

function holdIdOf(spec: string): string {
  const id = spec.toLowerCase();
  if (HOLD_ID.test(id)) return id;
  throw new FreezeError(
    'INVALID_ARGUMENT',
    `no hold ${spec}: a hold id is tf- and 6 hex digits (treefreeze status lists the holds; a process of that name is name:${spec})`,
  );
}

export async function thaw(specs: string[], options: ThawCliOptions): Promise<void> {
  const dryRun = Boolean(options.dryRun);
  const holdIds = specs.filter((spec) => LOOKS_LIKE_HOLD.test(spec)).map(holdIdOf);
  const others = specs.filter((spec) => !LOOKS_LIKE_HOLD.test(spec));
  const onlyHolds = holdIds.length > 0 && others.length === 0 && options.cgroup === undefined;
  // Everything checked before the wait: a mistake is told now, not at the thaw time.
  const targets = onlyHolds ? [] : resolveCliTargets(others, options);
  // Then, once loaded, the wait: a fleet's host starts its thaw before its thaw time (Node's
  // start is most of a thaw's cost), so the hold ends on time. --dry-run does not wait.
  if (options.at !== undefined) refuseFarAhead(options.at, '--at');
  if (options.at !== undefined && !dryRun) await waitUntil(options.at);
  for (const id of holdIds) await thawHoldById(id, dryRun, Boolean(options.json));
  for (const target of targets) {
    if (target.cgroup !== undefined) thawOneCgroup(target.cgroup, dryRun, Boolean(options.json));
    else thawOneTree(target.root as number, options, dryRun);
  }
}

export function tree(
  specs: string[],
  options: { json?: boolean; cgroups?: boolean; all?: boolean; cmd?: boolean },
): void {
  const targets = resolveCliTargets(specs, options);
  const roots = targets.flatMap((target) =>
    target.root !== undefined ? [target.root] : cgroupRoots(target.pids),
  );
  const entries = roots.flatMap((root) => describeTree(listTree(root), Boolean(options.cgroups)));
  if (options.json) {
    const root = targets.length === 1 && targets[0]?.root !== undefined ? targets[0].root : null;
    process.stdout.write(
      jsonLine({ command: 'tree', root, targets: targets.map(targetSummary), processes: entries }),
    );
    return;
  }
  const color = useColor(process.stdout);
  const threads = entries.reduce((sum, entry) => sum + entry.threads, 0);
  process.stdout.write(`${renderTree(entries, color)}\n`);
  process.stderr.write(
    `${paint(color, 'dim', `${count(entries.length, 'process', 'processes')}, ${count(threads, 'thread')}`)}\n`,
  );
}

export async function status(options: { json?: boolean }): Promise<void> {
  printStatus(await collectStatus(), Boolean(options.json));
}

export async function demo(setExitCode: SetExitCode): Promise<void> {
  setExitCode(await runDemo());
}
