/**
 * Real containers for tests (root, podman and runc installed by scripts/setup-system.sh): an
 * image made from this machine's busybox (no registry), containers under a cgroup parent of
 * this test process's own, removed with it. cgroupfs and vfs: no systemd or overlay needed.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './env.js';

const BASE = ['--cgroup-manager=cgroupfs', '--storage-driver=vfs'];
/** This test process's own image, removed with its containers (another suite may run beside it). */
const IMAGE = `localhost/treefreeze-test-busybox-${process.pid}`;
/** Every container's cgroup parent: one per test process, removed by removeContainers(). */
export const CONTAINER_PARENT = `/treefreeze-test-podman-${process.pid}`;
const started: string[] = [];

export const podmanAvailable = (): boolean => existsSync('/usr/bin/podman') && existsSync('/bin/busybox');

export function podman(...args: string[]): string {
  return execFileSync('podman', [...BASE, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function ensureImage(): void {
  try {
    podman('image', 'exists', IMAGE);
    return;
  } catch {
    // not there yet: made below
  }
  const root = mkdtempSync(join(tmpdir(), 'treefreeze-rootfs-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    for (const applet of ['sh', 'sleep']) symlinkSync('busybox', join(root, 'bin', applet));
    const tar = join(root, '..', `${root.split('/').at(-1)}.tar`);
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    podman('import', tar, IMAGE);
    rmSync(tar, { force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Starts a container of three processes (sh and two sleeps); its id and its sh's pid. */
export function startContainer(name: string): { id: string; pid: number } {
  ensureImage();
  started.push(name);
  const id = podman(
    'run',
    '-d',
    '--network',
    'none',
    '--name',
    name,
    '--cgroup-parent',
    CONTAINER_PARENT,
    // This machine's limits are below podman's defaults (which it may not raise).
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    IMAGE,
    '/bin/sh',
    '-c',
    'sleep 1000 & sleep 1000 & wait',
  );
  return { id, pid: Number(podman('inspect', '-f', '{{.State.Pid}}', name)) };
}

export const containerStatus = (name: string): string => podman('inspect', '-f', '{{.State.Status}}', name);

/**
 * Removes every container this process started, then their cgroup parent in every hierarchy
 * (retried for a few seconds: a container's conmon leaves its cgroup a moment after `rm`).
 */
export async function removeContainers(): Promise<string[]> {
  for (const name of started.splice(0)) {
    try {
      podman('unpause', name);
    } catch {
      // not paused
    }
    try {
      podman('rm', '-f', '-t', '0', name);
    } catch {
      // gone
    }
  }
  try {
    podman('rmi', '-f', IMAGE);
  } catch {
    // never made
  }
  const parents = [
    join('/sys/fs/cgroup', CONTAINER_PARENT),
    ...readdirSync('/sys/fs/cgroup').map((name) => join('/sys/fs/cgroup', name, CONTAINER_PARENT)),
  ];
  for (const until = Date.now() + 5000; ; await sleep(50)) {
    const left: string[] = [];
    for (const parent of parents) if (existsSync(parent)) removeTree(parent, left);
    if (left.length === 0 || Date.now() > until) return left;
  }
}

function removeTree(dir: string, left: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeTree(join(dir, entry.name), left);
  }
  try {
    rmdirSync(dir);
  } catch {
    left.push(dir);
  }
}
