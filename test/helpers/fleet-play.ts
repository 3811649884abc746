/**
 * Driving the example playbook (examples/ansible) against the test hosts of hosts.ts, as a
 * user would: from its own directory, so Ansible reads the ansible.cfg beside it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath } from './cli.js';
import { repoRoot } from './env.js';
import type { TestFleet, TestHost } from './hosts.js';
import { allStopped, noneStopped } from './proc.js';

export const treefreezeCommand = () => `${process.execPath} ${cliPath}`;

export interface PlayOptions {
  /** -e variables (they override the inventory's). */
  vars?: Record<string, string>;
  /** Variables per host, in the inventory (a per-host target). */
  hostVars?: (host: TestHost) => Record<string, string>;
  /** The ssh user (default root) and whether it becomes root through sudo. */
  user?: string;
  become?: boolean;
  /** More ansible-playbook arguments (--check). */
  args?: string[];
  /** Environment overrides (they beat ansible.cfg: a shorter connect timeout for a test). */
  env?: Record<string, string>;
}

export interface Play {
  child: ChildProcess;
  done: Promise<number | null>;
  output: () => string;
}

/** Runs the example playbook against the test hosts, in its own process group. */
export function play(fleet: TestFleet, options: PlayOptions = {}): Play {
  const dir = join(repoRoot, 'examples/ansible');
  const inventory = join(fleet.dir, `inventory-${Date.now()}.ini`);
  const line = (host: TestHost) =>
    [
      `${host.name} ansible_host=${host.address}`,
      ...Object.entries(options.hostVars?.(host) ?? {}).map(([k, v]) => `${k}=${v}`),
    ].join(' ');
  writeFileSync(
    inventory,
    [
      '[fleet]',
      ...fleet.hosts.map(line),
      '[fleet:vars]',
      `ansible_user=${options.user ?? 'root'}`,
      ...(options.become ? ['ansible_become=true'] : []),
      `ansible_ssh_private_key_file=${fleet.key}`,
      'ansible_python_interpreter=/usr/bin/python3',
      "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -F /dev/null'",
      '',
    ].join('\n'),
  );
  const vars = {
    treefreeze_hosts: 'fleet',
    treefreeze_command: treefreezeCommand(),
    ...(options.hostVars ? {} : { treefreeze_target: fleet.service }),
    ...options.vars,
  };
  const child = spawn(
    'ansible-playbook',
    ['-i', inventory, 'playbook.yml', '-e', JSON.stringify(vars), ...(options.args ?? [])],
    {
      cwd: dir, // where its ansible.cfg is
      detached: true, // its own process group: a SIGKILL to the group takes its ssh clients too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ANSIBLE_HOME: join(fleet.dir, 'ansible'),
        ANSIBLE_LOCAL_TEMP: join(fleet.dir, 'ansible-local'),
        ANSIBLE_REMOTE_TEMP: '/tmp',
        ANSIBLE_SSH_CONTROL_PATH_DIR: join(fleet.dir, `ansible-cp-${Date.now()}`),
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        ANSIBLE_RETRY_FILES_ENABLED: 'False',
        ANSIBLE_NOCOLOR: '1',
        ...options.env,
      },
    },
  );
  let output = '';
  child.stdout?.on('data', (data) => {
    output += data;
  });
  child.stderr?.on('data', (data) => {
    output += data;
  });
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, done, output: () => output };
}

/** Polls every host's service from outside: when each was first seen frozen. */
export function watchStates(fleet: TestFleet) {
  const firstFrozen = new Map<string, number>();
  /** When any process of each host's service was first seen stopped: a freeze caught half-way counts. */
  const firstStopped = new Map<string, number>();
  let looks = 0;
  const timer = setInterval(() => {
    looks++;
    for (const host of fleet.hosts) {
      const pids = host.servicePids();
      if (!firstStopped.has(host.name) && !noneStopped(pids)) firstStopped.set(host.name, Date.now());
      if (!firstFrozen.has(host.name) && allStopped(pids)) firstFrozen.set(host.name, Date.now());
    }
  }, 2);
  return { firstFrozen, firstStopped, looks: () => looks, stop: () => clearInterval(timer) };
}

/** Waits until every pid runs again; how long that took from `since` (performance.now()), or null. */
export async function resumedAfter(
  pids: number[],
  since: number,
  deadlineMs: number,
): Promise<number | null> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    if (noneStopped(pids)) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return null;
}

/** Runs treefreeze on a test host over ssh, as root there. */
export function treefreezeOn(fleet: TestFleet, host: TestHost, args: string[]): string {
  return execFileSync(
    'ssh',
    [...fleet.sshOptions, `root@${host.address}`, [treefreezeCommand(), ...args].join(' ')],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
  );
}
