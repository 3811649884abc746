/**
 * The cgroup filesystems: finding the hierarchies, resolving paths, reading membership,
 * and reading or writing a cgroup's freezer files. Errors of these files are cgroup
 * errors (NOT_PERMITTED, NO_SUCH_CGROUP, CGROUP_IO_ERROR), never /proc ones.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import {
  cgroupIoError,
  errnoCode,
  FreezeError,
  invalidArgument,
  isGoneError,
  notPermittedCgroup,
} from '../base/errors.js';
import { readProcFile } from './procfs.js';

export interface CgroupMounts {
  /** The cgroup v2 mount: /sys/fs/cgroup (pure v2) or /sys/fs/cgroup/unified (hybrid). */
  v2?: string;
  /** The cgroup v1 hierarchy with the freezer controller. */
  v1Freezer?: string;
}

/** Reads the cgroup mounts from /proc/self/mountinfo. */
export function findCgroupMounts(): CgroupMounts {
  const mounts: CgroupMounts = {};
  for (const line of (readProcFile('/proc/self/mountinfo') ?? '').split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0) continue;
    const mountPoint = unescapeMount(fields[4] ?? '');
    const type = fields[dash + 1];
    const superOptions = (fields[dash + 3] ?? '').split(',');
    if (type === 'cgroup2' && mounts.v2 === undefined) mounts.v2 = mountPoint;
    if (type === 'cgroup' && superOptions.includes('freezer') && mounts.v1Freezer === undefined) {
      mounts.v1Freezer = mountPoint;
    }
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export type CgroupVersion = 'cgroup-v2' | 'cgroup-v1';

export interface ResolvedCgroup {
  path: string;
  version: CgroupVersion;
  /** The file written to freeze and thaw: cgroup.freeze (v2) or freezer.state (v1). */
  control: string;
}

function isUnder(path: string, mount: string | undefined): boolean {
  if (mount === undefined) return false;
  const rel = relative(mount, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Where `path` points. An absolute path under a cgroup mount is taken as it is. Any other
 * path is a cgroup's path inside its hierarchy, as /proc/<pid>/cgroup and `tree --cgroups`
 * print it ("/system.slice/db.service", or "/" for the root): under the v2 mount when it
 * exists there, else under the v1 freezer's.
 */
function fullCgroupPath(path: string, mounts: CgroupMounts): string {
  if (isAbsolute(path) && (isUnder(resolve(path), mounts.v2) || isUnder(resolve(path), mounts.v1Freezer))) {
    return resolve(path);
  }
  const inside = path.replace(/^\/+/, '');
  const candidates = [mounts.v2, mounts.v1Freezer]
    .filter((mount): mount is string => mount !== undefined)
    .map((mount) => resolve(mount, inside));
  const existing = candidates.find((candidate) => existsSync(candidate));
  if (existing) return existing;
  // Nowhere in a hierarchy: report the path the way it was meant.
  return isAbsolute(path) ? resolve(path) : (candidates[0] ?? resolve(path));
}

/**
 * Resolves `path` (see fullCgroupPath) to a cgroup that can
 * be frozen: v2 when it has cgroup.freeze, else the v1 freezer when it has freezer.state.
 */
export function resolveCgroup(path: string, mounts: CgroupMounts = findCgroupMounts()): ResolvedCgroup {
  if (typeof path !== 'string' || path.trim() === '') {
    throw invalidArgument(`a cgroup path is required, got ${JSON.stringify(path)}`);
  }
  const full = fullCgroupPath(path, mounts);
  if (!existsSync(full)) {
    throw new FreezeError('NO_SUCH_CGROUP', `no cgroup at ${full}`);
  }
  if (!statSync(full).isDirectory() || !existsSync(join(full, 'cgroup.procs'))) {
    throw new FreezeError('NOT_A_CGROUP', `${full} is not a cgroup (no cgroup.procs there)`);
  }
  if (existsSync(join(full, 'cgroup.freeze'))) {
    return { path: full, version: 'cgroup-v2', control: join(full, 'cgroup.freeze') };
  }
  if (existsSync(join(full, 'freezer.state'))) {
    return { path: full, version: 'cgroup-v1', control: join(full, 'freezer.state') };
  }
  const where = isUnder(full, mounts.v2)
    ? 'the root of the cgroup v2 hierarchy cannot be frozen'
    : isUnder(full, mounts.v1Freezer)
      ? 'the root of the v1 freezer hierarchy cannot be frozen'
      : 'it is in no hierarchy with a freezer (cgroup v2, or v1 with the freezer controller)';
  throw new FreezeError('NO_FREEZER', `cgroup ${full} has no freezer: ${where}`);
}

/** The pids in a cgroup and, recursively, its descendants; [] once it has been removed. */
export function cgroupPids(path: string): number[] {
  const pids: number[] = [];
  const visit = (dir: string) => {
    for (const line of (readCgroupFile(join(dir, 'cgroup.procs')) ?? '').split('\n')) {
      if (line.trim() !== '') pids.push(Number(line));
    }
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return; // removed while we looked
    }
    for (const name of entries) visit(join(dir, name));
  };
  visit(path);
  return pids;
}

function cgroupError(path: string, error: unknown): FreezeError {
  const code = errnoCode(error);
  if (code === 'EACCES' || code === 'EPERM') return notPermittedCgroup(path, error);
  return cgroupIoError(path, error);
}

/** A cgroup file's text, or null when it (and so its cgroup) no longer exists. */
export function readCgroupFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (isGoneError(error) || errnoCode(error) === 'ENODEV') return null;
    throw cgroupError(path, error);
  }
}

/** Writes a cgroup file (a freezer's control file). A removed cgroup is NO_SUCH_CGROUP. */
export function writeCgroupFile(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (error) {
    if (isGoneError(error) || errnoCode(error) === 'ENODEV') {
      throw new FreezeError('NO_SUCH_CGROUP', `the cgroup of ${path} no longer exists`, [], { cause: error });
    }
    throw cgroupError(path, error);
  }
}

/** The cgroups (absolute paths) of `pid`: in the v2 hierarchy and in the v1 freezer one. */
export function cgroupsOf(
  pid: number,
  mounts: CgroupMounts = findCgroupMounts(),
): { v2?: string; v1?: string } {
  const found: { v2?: string; v1?: string } = {};
  for (const line of (readProcFile(`/proc/${pid}/cgroup`) ?? '').split('\n')) {
    const [id, controllers, ...rest] = line.split(':');
    const path = rest.join(':');
    if (id === '0' && controllers === '' && mounts.v2) found.v2 = join(mounts.v2, path);
    if (controllers?.split(',').includes('freezer') && mounts.v1Freezer)
      found.v1 = join(mounts.v1Freezer, path);
  }
  return found;
}

/**
 * The cgroup that holds `pid` frozen, if any: the nearest cgroup at or above the process's
 * own (v2, then the v1 freezer hierarchy) whose freezer was set to frozen — the one to thaw.
 * Its path is given inside its hierarchy ("/system.slice/db.service"), as resolveCgroup
 * accepts it back. null when the process is in no frozen cgroup.
 */
export function frozenCgroupHolding(pid: number, mounts: CgroupMounts = findCgroupMounts()): string | null {
  return frozenCgroupOf(pid, mounts)?.inside ?? null;
}

/** frozenCgroupHolding, with the cgroup itself. */
export function frozenCgroupOf(pid: number, mounts: CgroupMounts = findCgroupMounts()): FrozenCgroup | null {
  return frozenAbove(cgroupsOf(pid, mounts), mounts);
}

/** A cgroup whose own freezer is set, found above a process or a cgroup. */
export interface FrozenCgroup {
  cgroup: ResolvedCgroup;
  /** Its path inside its hierarchy ("/libpod_parent/libpod-…"), as resolveCgroup takes it back. */
  inside: string;
}

/**
 * The nearest cgroup at or above these (v2, then the v1 freezer hierarchy) whose own freezer
 * was set to frozen by whoever froze it; null when none is.
 */
function frozenAbove(
  paths: { v2?: string | undefined; v1?: string | undefined },
  mounts: CgroupMounts,
): FrozenCgroup | null {
  const candidates: [string | undefined, string | undefined, 'cgroup-v2' | 'cgroup-v1'][] = [
    [paths.v2, mounts.v2, 'cgroup-v2'],
    [paths.v1, mounts.v1Freezer, 'cgroup-v1'],
  ];
  for (const [path, mount, version] of candidates) {
    if (path === undefined || mount === undefined) continue;
    const [file, control] =
      version === 'cgroup-v2'
        ? ['cgroup.freeze', 'cgroup.freeze']
        : ['freezer.self_freezing', 'freezer.state'];
    for (let dir = path; isUnder(dir, mount) && dir !== mount; dir = dirname(dir)) {
      if ((readCgroupFile(join(dir, file)) ?? '').trim() === '1') {
        return {
          cgroup: { path: dir, version, control: join(dir, control) },
          inside: `/${relative(mount, dir)}`,
        };
      }
    }
  }
  return null;
}

/**
 * A freezer already set at or above `cgroup`, in its own hierarchy or at the same path in the
 * other one (podman pause and docker pause on a machine with both hierarchies write the v1
 * freezer; a v2 freeze then never completes).
 */
export function frozenAround(
  cgroup: ResolvedCgroup,
  mounts: CgroupMounts = findCgroupMounts(),
): FrozenCgroup | null {
  const mount = cgroup.version === 'cgroup-v2' ? mounts.v2 : mounts.v1Freezer;
  if (mount === undefined) return null;
  const inside = relative(mount, cgroup.path);
  const at = (other: string | undefined) => (other === undefined ? undefined : join(other, inside));
  return frozenAbove({ v2: at(mounts.v2), v1: at(mounts.v1Freezer) }, mounts);
}

/** The same cgroup path in the other hierarchy (v2 <-> the v1 freezer's), when it exists there. */
export function counterpartOf(
  cgroup: ResolvedCgroup,
  mounts: CgroupMounts = findCgroupMounts(),
): ResolvedCgroup | null {
  const [own, other] =
    cgroup.version === 'cgroup-v2' ? [mounts.v2, mounts.v1Freezer] : [mounts.v1Freezer, mounts.v2];
  if (own === undefined || other === undefined) return null;
  const inside = relative(own, cgroup.path);
  if (inside === '' || inside.startsWith('..')) return null;
  const path = join(other, inside);
  const control = join(path, cgroup.version === 'cgroup-v2' ? 'freezer.state' : 'cgroup.freeze');
  if (!existsSync(control)) return null;
  return { path, version: cgroup.version === 'cgroup-v2' ? 'cgroup-v1' : 'cgroup-v2', control };
}

/** Who most likely froze a cgroup, from its name: what to say, not something to act on. */
export function likelyFreezer(inside: string): string {
  if (/\/libpod-[0-9a-f]{12,}/.test(inside)) return 'podman pause';
  if (/\/docker[-/][0-9a-f]{12,}/.test(inside)) return 'docker pause';
  if (/\.(service|scope|slice)$/.test(inside)) return 'systemctl freeze';
  return 'someone writing its freezer by hand, or another freezer';
}
