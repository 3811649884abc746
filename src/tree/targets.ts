/**
 * Turning what a person names into what to freeze: a pid, a process name (or `name:NAME` for
 * any name, one that looks like a number or an option included), `:PORT`, a systemd
 * unit, a container, or a cgroup path. A name or port resolves to the roots of the trees
 * of the matching processes (a match whose ancestor also matches is part of that tree);
 * a unit or container resolves to its cgroup, found through /proc/<pid>/cgroup (no daemon
 * is asked, except a container's name, which only its engine's command line knows; see
 * named-cgroups.ts).
 */
import { basename, join, relative } from 'node:path';
import { FreezeError, invalidArgument, listPids } from '../base/errors.js';
import { cgroupPids, findCgroupMounts, resolveCgroup } from '../kernel/cgroupfs.js';
import { readProcessStat, readProcFile, scanAllProcesses } from '../kernel/procfs.js';
import { processesHoldingSockets, socketInodesOnPort } from '../kernel/sockets.js';
import { isKernelThreadStat, type ProcStat } from '../kernel/stat.js';
import { containerCgroups, type NamedCgroups, unitCgroups } from './named-cgroups.js';
import { readRootStat, refuseKernelThread } from './root-check.js';

export type TargetKind = 'pid' | 'name' | 'command' | 'port' | 'unit' | 'container' | 'cgroup';

export interface ResolvedTarget {
  /** The target as given. */
  spec: string;
  kind: TargetKind;
  /** A process tree: freeze it with freezeTree(root). */
  root?: number;
  /** A cgroup: freeze it with freezeCgroup(cgroup); its directory. */
  cgroup?: string;
  /** What it names now: the root's tree is found again by the freeze; a cgroup's processes. */
  pids: number[];
  /** How to say it: "nginx (pid 812)", "unit db.service (/system.slice/db.service)". */
  label: string;
}

export interface ResolveTargetsOptions {
  /** A name, port or unit that matches several separate trees: take them all (else AMBIGUOUS_TARGET). */
  all?: boolean | undefined;
  /**
   * Names match anywhere in the full command line (like `pgrep -f`), not the exact process
   * name; a name starting with "/" is then a command's path, and a cgroup needs "cgroup:".
   */
  cmd?: boolean | undefined;
}

/**
 * What each target names now, in the order given (a target matching several trees, with
 * `all`, gives one entry per tree). Never signals anything. Errors: NO_MATCH,
 * AMBIGUOUS_TARGET, NO_SUCH_PROCESS, INVALID_ARGUMENT, UNSAFE_TARGET, NO_SUCH_CGROUP.
 */
export function resolveTargets(
  specs: readonly string[],
  options: ResolveTargetsOptions = {},
): ResolvedTarget[] {
  if (!Array.isArray(specs) || specs.length === 0) throw invalidArgument('give at least one target');
  const resolved: ResolvedTarget[] = [];
  let processes: Map<number, ProcStat> | undefined;
  const table = () => {
    processes ??= new Map(scanAllProcesses().map((stat) => [stat.pid, stat]));
    return processes;
  };
  for (const spec of specs) {
    if (typeof spec !== 'string' || spec.trim() === '') throw invalidArgument('a target cannot be empty');
    for (const target of resolveOne(spec, options, table)) {
      const duplicate = resolved.some(
        (other) =>
          (target.root !== undefined && other.root === target.root) ||
          (target.cgroup !== undefined && other.cgroup === target.cgroup),
      );
      if (!duplicate) resolved.push(target);
    }
  }
  return resolved;
}

function resolveOne(
  spec: string,
  options: ResolveTargetsOptions,
  table: () => Map<number, ProcStat>,
): ResolvedTarget[] {
  if (/^\d+$/.test(spec)) {
    const root = Number(spec);
    if (!Number.isSafeInteger(root) || root <= 0) throw invalidArgument(`"${spec}" is not a process id`);
    const stat = readRootStat(root);
    return [{ spec, kind: 'pid', root, pids: [root], label: `${stat.comm} (pid ${root})` }];
  }
  const port = /^:(\d+)$/.exec(spec);
  if (port) {
    const number = Number(port[1]);
    if (number < 1 || number > 65535) throw invalidArgument(`${spec}: a port is a number from 1 to 65535`);
    const holders = processesHoldingSockets(socketInodesOnPort(number));
    if (holders.length === 0) {
      throw new FreezeError(
        'NO_MATCH',
        `nothing listens on port ${number} (TCP) or is bound to it (UDP) here`,
      );
    }
    return treesOf(spec, 'port', holders, options, table(), `listening on port ${number}`);
  }
  if (spec.startsWith('unit:')) return cgroupTargets(spec, 'unit', unitCgroups(spec.slice(5)), options);
  if (spec.startsWith('container:')) {
    return cgroupTargets(spec, 'container', containerCgroups(spec.slice(10)), options);
  }
  // With `cmd`, a leading "/" is a command line's path (/usr/bin/python), not a cgroup's.
  if (spec.startsWith('cgroup:') || (spec.startsWith('/') && !options.cmd)) {
    const cgroup = resolveCgroup(spec.startsWith('cgroup:') ? spec.slice(7) : spec);
    return [cgroupTarget(spec, 'cgroup', cgroup.path)];
  }
  // name:NAME is always a process name, whatever it looks like: "name:7zip", "name:-x", "name:1234".
  const explicit = spec.startsWith('name:');
  const name = explicit ? spec.slice(5) : spec;
  if (name === '') throw invalidArgument('name: needs a process name after it (name:NAME)');
  const byCommandLine = Boolean(options.cmd) && !explicit;
  const matches = matchingProcesses(name, byCommandLine, table());
  if (matches.length === 0) {
    throw new FreezeError(
      'NO_MATCH',
      byCommandLine
        ? `no process has "${name}" in its command line`
        : `no process is named "${name}" (exact name, as pgrep -x; --cmd matches the command line)`,
    );
  }
  const what = byCommandLine ? `command line has "${name}"` : `named ${name}`;
  return treesOf(spec, byCommandLine ? 'command' : 'name', matches, options, table(), what);
}

/** The roots of the trees the matches form: a match whose ancestor matches too belongs to that tree. */
function treesOf(
  spec: string,
  kind: TargetKind,
  matches: number[],
  options: ResolveTargetsOptions,
  processes: Map<number, ProcStat>,
  what: string,
): ResolvedTarget[] {
  const matched = new Set(matches);
  const roots = matches.filter((pid) => {
    for (let parent = processes.get(pid)?.ppid; parent !== undefined && parent > 1; ) {
      if (matched.has(parent)) return false;
      parent = processes.get(parent)?.ppid;
    }
    return true;
  });
  const described = (pid: number) => `${processes.get(pid)?.comm ?? '?'} (pid ${pid})`;
  if (roots.length > 1 && !options.all) {
    throw new FreezeError(
      'AMBIGUOUS_TARGET',
      `${spec} matches ${roots.length} separate trees (${what}): ${roots.map(described).join(', ')}; give a pid, or --all to freeze them all`,
      roots,
    );
  }
  const live = roots.filter((root) => readProcessStat(root) !== null); // one may exit as we look
  if (live.length === 0) throw new FreezeError('NO_MATCH', `${spec}: every process it matched has exited`);
  return live.map((root) => {
    refuseKernelThread(readRootStat(root), '');
    return { spec, kind, root, pids: [root], label: described(root) };
  });
}

/**
 * This process and its ancestors (the shell that started it may carry the name in its
 * command line) never match. Its children may: a supervisor names its own workers.
 */
function ownLine(processes: Map<number, ProcStat>): (pid: number) => boolean {
  const ancestors = new Set<number>();
  for (
    let pid: number | undefined = process.pid;
    pid !== undefined && pid > 0;
    pid = processes.get(pid)?.ppid
  ) {
    if (ancestors.has(pid)) break;
    ancestors.add(pid);
  }
  return (pid) => ancestors.has(pid);
}

function matchingProcesses(spec: string, byCommandLine: boolean, processes: Map<number, ProcStat>): number[] {
  const ours = ownLine(processes);
  const matches: number[] = [];
  for (const stat of processes.values()) {
    if (isKernelThreadStat(stat) || stat.state === 'Z' || ours(stat.pid)) continue; // kernel threads, zombies, us
    let hit: boolean;
    if (byCommandLine) {
      hit = (readProcFile(`/proc/${stat.pid}/cmdline`) ?? '').split('\0').join(' ').includes(spec);
    } else {
      // comm holds at most 15 bytes: a longer name matches on its start and argv[0].
      hit =
        stat.comm === spec ||
        (spec.length > 15 &&
          stat.comm === spec.slice(0, 15) &&
          basename((readProcFile(`/proc/${stat.pid}/cmdline`) ?? '').split('\0')[0] ?? '') === spec);
    }
    if (hit) matches.push(stat.pid);
  }
  return matches;
}

function cgroupTargets(
  spec: string,
  kind: TargetKind,
  { mount, found, what }: NamedCgroups,
  options: ResolveTargetsOptions,
): ResolvedTarget[] {
  if (found.length === 0)
    throw new FreezeError('NO_MATCH', `no running ${what}: no process is in its cgroup`);
  // A unit nested in another of the same name: the outer one holds it.
  const outer = found.filter(
    (path) => !found.some((other) => other !== path && path.startsWith(`${other}/`)),
  );
  if (outer.length > 1 && !options.all) {
    throw new FreezeError(
      'AMBIGUOUS_TARGET',
      `${spec} matches ${outer.length} cgroups: ${outer.join(', ')}; give the cgroup path, or --all to freeze them all`,
    );
  }
  return outer.map((path) => cgroupTarget(spec, kind, join(mount, path), `${what} (${path})`));
}

function cgroupTarget(spec: string, kind: TargetKind, directory: string, label?: string): ResolvedTarget {
  const pids = cgroupPids(directory);
  const mounts = findCgroupMounts();
  const mount = [mounts.v2, mounts.v1Freezer].find(
    (m) => m !== undefined && !relative(m, directory).startsWith('..'),
  );
  const inside = mount === undefined ? directory : `/${relative(mount, directory)}`;
  return {
    spec,
    kind,
    cgroup: directory,
    pids,
    label: label ?? `cgroup ${inside} (${listPids(pids, 3) || 'empty'})`,
  };
}
