/**
 * Test hosts on one machine, for the fleet tests (root only): each is a network namespace
 * with a veth link to this one (10.A.B.2, and 10.A.B.1 on our side), a pid and mount
 * namespace of its own (its own /proc, and a tmpfs on /run, so each host has its own
 * /run/treefreeze registry), an sshd listening only on its private address, and a small
 * service tree (`treefix comm NAME`: two processes of two threads, named NAME).
 * Everything is made by this process, named after its pid, and torn down by it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '../fixture/fixture.js';
import { eventually } from './env.js';

export interface TestHost {
  /** Inventory name: host1, host2, ... */
  name: string;
  /** Its network namespace. */
  netns: string;
  /** Our side of its link. */
  link: string;
  /** Where its sshd listens. */
  address: string;
  /** The host's init (pid 1 in its pid namespace), as this machine sees it. */
  init: number;
  /** The service tree's pids, as this machine sees them. */
  servicePids: () => number[];
  /** The treefreeze holders running on the host (`freeze` commands), as this machine sees them. */
  holderPids: () => number[];
  /**
   * Makes the host silent (its sshd stopped: connections are accepted by the kernel, and no
   * word ever comes back), and speaking again.
   */
  silence: () => void;
  speak: () => void;
  /** Kills the service (a host where the target is missing), and starts it again. */
  stopService: () => Promise<void>;
  startService: () => Promise<void>;
}

export interface TestFleet {
  hosts: TestHost[];
  /** The private key that every host's root accepts. */
  key: string;
  /** ssh options that make the client talk to these hosts only, without prompts or state. */
  sshOptions: string[];
  dir: string;
  /** The name every host's service runs under. */
  service: string;
  teardown(): Promise<void>;
}

const run = (file: string, args: string[]) => execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Whether this machine can make test hosts: root, ip netns, unshare and sshd. */
export function fleetUnavailable(): string {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/sbin/ip', '/usr/bin/unshare']) {
    try {
      readFileSync(tool);
    } catch {
      return `${tool} is missing (the project's setup, scripts/setup-system.sh, installs it)`;
    }
  }
  try {
    const probe = `tfprobe${process.pid % 100_000}`;
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'del', probe]);
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.split('\n')[0]}`;
  }
  return '';
}

/** The init script of a host: its /run, its service, its sshd; it waits, and dies with its children. */
function initScript(config: string, service: string): string {
  return [
    'set -e',
    'mount -t tmpfs -o mode=755 tmpfs /run',
    // An empty home: a login shell there must not run the machine's root dotfiles (a pyenv rehash
    // in .bashrc takes a lock in /root; a host torn down mid-rehash left it, and every later
    // session waited on it).
    'mount -t tmpfs -o mode=700 tmpfs /root',
    'mkdir -p /run/sshd',
    // The service, started again whenever it ends unless /run/service.off exists (stopService).
    // (nsenter cannot start it from outside: like su, it stops itself when its child stops, and
    // nothing inside the host can see it to continue it.)
    `(set +e; while :; do if [ -e /run/service.off ]; then sleep 0.1; else "${fixturePath()}" comm ${service} > /run/service.ready; fi; done) &`,
    `/usr/sbin/sshd -D -e -f "${config}" 2>/run/sshd.log &`,
    'wait',
  ].join('\n');
}

export async function startFleet(count: number): Promise<TestFleet> {
  const tag = process.pid % 100_000;
  // A 10.x network no other copy of the suite uses now (it would route to the wrong host).
  const inUse = execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
  const candidates = Array.from({ length: 128 }, (_, i) => 64 + ((process.pid + i) % 128));
  const octet = candidates.find((n) => !inUse.includes(` 10.${n}.`)) ?? 64 + (process.pid % 128);
  const dir = mkdtempSync(join(tmpdir(), 'treefreeze-fleet-'));
  const service = `tfsvc${tag}`.slice(0, 15);
  const key = join(dir, 'id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key, '-C', 'treefreeze-test']);
  // sshd reads a user's authorized keys as that user: a non-root login (the playbook's become
  // test) must be able to reach this file, though not list the directory or read the key.
  chmodSync(dir, 0o711);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${key}.pub`), { mode: 0o644 });
  const hostKey = join(dir, 'host_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  chmodSync(hostKey, 0o600);
  const hosts: TestHost[] = [];
  const inits: ChildProcess[] = [];
  const teardown = async () => {
    for (const init of inits) init.kill('SIGKILL'); // a pid namespace's init takes every process of it along
    for (const host of hosts) {
      try {
        run('ip', ['netns', 'del', host.netns]); // its end of the link goes with it, and so does ours
      } catch {
        // already gone
      }
    }
    await eventually(() => inits.every((init) => init.exitCode !== null || init.signalCode !== null), 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 1; i <= count; i++) {
      const netns = `tf${tag}h${i}`;
      const link = `tf${tag}v${i}`;
      const peer = `tf${tag}p${i}`;
      const address = `10.${octet}.${i}.2`;
      run('ip', ['netns', 'add', netns]);
      const host: TestHost = {
        name: `host${i}`,
        netns,
        link,
        address,
        init: 0,
        servicePids: () => [],
        holderPids: () => [],
        stopService: async () => {
          writeFileSync(join(hostRoot(host), 'run/service.off'), '');
          for (const pid of host.servicePids()) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // died with its parent already
            }
          }
          await eventually(() => host.servicePids().length === 0, 10_000);
        },
        silence: () => {
          for (const pid of sshdListenerOf(host.init)) process.kill(pid, 'SIGSTOP');
        },
        speak: () => {
          for (const pid of sshdListenerOf(host.init)) process.kill(pid, 'SIGCONT');
        },
        startService: async () => {
          rmSync(join(hostRoot(host), 'run/service.off'), { force: true });
          if (!(await eventually(() => host.servicePids().length === 2, 10_000))) {
            throw new Error(`the service did not start again on ${host.name}`);
          }
        },
      };
      hosts.push(host);
      run('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', peer]);
      run('ip', ['link', 'set', peer, 'netns', netns]);
      run('ip', ['addr', 'add', `10.${octet}.${i}.1/24`, 'dev', link]);
      run('ip', ['link', 'set', link, 'up']);
      run('ip', ['netns', 'exec', netns, 'ip', 'addr', 'add', `${address}/24`, 'dev', peer]);
      run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', peer, 'up']);
      run('ip', ['netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
      const config = join(dir, `sshd_config_${i}`);
      writeFileSync(
        config,
        [
          `ListenAddress ${address}`,
          'Port 22',
          `HostKey ${hostKey}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          'PidFile none',
          'ClientAliveInterval 0',
          '',
        ].join('\n'),
      );
      const init = spawn(
        'ip',
        [
          'netns',
          'exec',
          netns,
          'unshare',
          '--pid',
          '--fork',
          '--mount-proc',
          '--kill-child',
          'sh',
          '-c',
          initScript(config, service),
        ],
        { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
      );
      inits.push(init);
      host.init = init.pid as number;
      host.servicePids = () => servicePidsOf(init.pid as number, service);
      host.holderPids = () => holderPidsOf(init.pid as number);
    }
    for (const host of hosts) {
      const up = await eventually(() => host.servicePids().length === 2 && sshdListens(host), 10_000);
      if (!up)
        throw new Error(
          `test host ${host.name} did not come up (sshd on ${host.address}, service ${service})`,
        );
    }
  } catch (error) {
    await teardown();
    throw error;
  }
  return {
    hosts,
    key,
    dir,
    service,
    sshOptions: [
      '-i',
      key,
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      '-o',
      'ConnectTimeout=5',
      '-F',
      '/dev/null',
    ],
    teardown,
  };
}

/** The host's root directory as its init sees it (its own /run is a tmpfs only it has mounted). */
function hostRoot(host: TestHost): string {
  const nsInit = readFileSync(`/proc/${host.init}/task/${host.init}/children`, 'utf8').trim().split(' ')[0];
  return `/proc/${nsInit}/root`;
}

/** Processes named `name` in the pid namespace of `init`'s child (the host's pid 1), as this machine sees them. */
function servicePidsOf(init: number, name: string): number[] {
  return pidsInHost(init, (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name);
}

/** treefreeze freeze commands in the host of `init` (node running the CLI with "freeze"). */
function holderPidsOf(init: number): number[] {
  return pidsInHost(init, (pid) => {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((word) => word.endsWith('cli.js')) && argv.includes('freeze');
  });
}

/** Live (not zombie) processes in the pid namespace of `init`'s child that `matches`. */
function pidsInHost(init: number, matches: (pid: string) => boolean): number[] {
  let namespace: string;
  try {
    const nsInit = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0];
    namespace = readlinkSync(`/proc/${nsInit}/ns/pid`);
  } catch {
    return [];
  }
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return (
          matches(pid) &&
          readlinkSync(`/proc/${pid}/ns/pid`) === namespace &&
          !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The host's sshd listener: the sshd that its pid 1 started (its sessions are that sshd's children). */
function sshdListenerOf(init: number): number[] {
  const nsInit = Number(readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0]);
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [, ppid] = (stat.split(') ')[1] ?? '').split(' ');
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sshd' && Number(ppid) === nsInit;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function sshdListens(host: TestHost): boolean {
  try {
    const table = execFileSync('ip', ['netns', 'exec', host.netns, 'cat', '/proc/net/tcp'], {
      encoding: 'utf8',
    });
    return table.split('\n').some((line) => / 0A /.test(line) && line.includes(':0016 '));
  } catch {
    return false;
  }
}
