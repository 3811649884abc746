/**
 * The cgroups a systemd unit or a container stands for, found among the populated cgroups that
 * /proc/<pid>/cgroup lists (no daemon is asked, except for a container's name, which only its
 * engine's command line knows).
 */
import { execFileSync } from 'node:child_process';
import { FreezeError, invalidArgument } from '../base/errors.js';
import { findCgroupMounts } from '../kernel/cgroupfs.js';
import { listProcessIds, readProcFile } from '../kernel/procfs.js';

/** The cgroups found (hierarchy paths under `mount`), and how to name what was asked for. */
export interface NamedCgroups {
  mount: string;
  found: string[];
  what: string;
}

/** Every populated cgroup (in the hierarchy that can freeze: v2, else the v1 freezer), from /proc/<pid>/cgroup. */
function populatedCgroups(): { mount: string; paths: Set<string> } {
  const mounts = findCgroupMounts();
  const v2 = mounts.v2 !== undefined;
  const mount = mounts.v2 ?? mounts.v1Freezer;
  if (mount === undefined) {
    throw new FreezeError(
      'NO_FREEZER',
      'this machine has no cgroup freezer (cgroup v2, or v1 with the freezer controller)',
    );
  }
  const paths = new Set<string>();
  for (const pid of listProcessIds()) {
    for (const line of (readProcFile(`/proc/${pid}/cgroup`) ?? '').split('\n')) {
      const [id, controllers, ...rest] = line.split(':');
      if (v2 ? id === '0' && controllers === '' : controllers?.split(',').includes('freezer')) {
        paths.add(rest.join(':'));
      }
    }
  }
  return { mount, paths };
}

/** The cgroups (hierarchy paths) whose last component `matches`, at any depth of a populated cgroup's path. */
function cgroupsNamed(matches: (component: string) => boolean): { mount: string; found: string[] } {
  const { mount, paths } = populatedCgroups();
  const found = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (matches(parts[i] as string)) found.add(parts.slice(0, i + 1).join('/'));
    }
  }
  return { mount, found: [...found].sort() };
}

const UNIT_TYPES = ['service', 'scope', 'slice', 'socket', 'mount', 'swap', 'target', 'timer'];

export function unitCgroups(name: string): NamedCgroups {
  if (name === '') throw invalidArgument('unit: needs a unit name, e.g. unit:nginx or unit:db.service');
  const suffix = name.slice(name.lastIndexOf('.') + 1);
  const unit = name.includes('.') && UNIT_TYPES.includes(suffix) ? name : `${name}.service`;
  return { ...cgroupsNamed((component) => component === unit), what: `unit ${unit}` };
}

/** docker-<id>.scope, libpod-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope, or a bare <id> (cgroupfs driver). */
function containerId(component: string): string | null {
  const match = /^(?:docker-|libpod-|cri-containerd-|crio-|containerd-)?([0-9a-f]{64})(?:\.scope)?$/.exec(
    component,
  );
  return match ? (match[1] as string) : null;
}

export function containerCgroups(name: string): NamedCgroups {
  if (name === '') throw invalidArgument('container: needs a container id or name');
  const byId = (id: string) => cgroupsNamed((component) => containerId(component)?.startsWith(id) === true);
  if (/^[0-9a-f]{4,64}$/.test(name)) {
    const found = byId(name);
    if (found.found.length > 0) return { ...found, what: `container ${name}` };
  }
  // A name: only the engine knows it. Ask its command line, if there is one.
  for (const engine of ['docker', 'podman']) {
    let id: string;
    try {
      id = execFileSync(engine, ['inspect', '--format', '{{.Id}}', name], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      }).trim();
    } catch {
      continue; // no such engine, or it does not know the name
    }
    if (/^[0-9a-f]{64}$/.test(id)) return { ...byId(id), what: `container ${name} (${id.slice(0, 12)})` };
  }
  return { ...byId('-'), what: `container ${name}` };
}
