/**
 * A real container engine (podman with runc, cgroupfs, an image of this machine's busybox):
 * containers are frozen and thawed by name and by id, and a container another freezer paused
 * is reported as such at once by every command, refused or joined, and left paused.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { resolveTargets } from '../../src/tree/targets.js';
import {
  containerStatus,
  inCI,
  isRoot,
  only,
  parseEvents,
  podman,
  podmanAvailable,
  removeContainers,
  runCli,
  startContainer,
  taskStates,
} from '../helpers/index.js';

const T = { timeout: 120_000 };

after(async () => {
  assert.deepEqual(await removeContainers(), [], 'no cgroup left behind');
});

function requirePodman(t: { skip: (why: string) => void }): boolean {
  if (isRoot && podmanAvailable()) return true;
  assert.ok(!inCI, 'CI runs as root with podman installed (scripts/setup-system.sh)');
  t.skip('needs root and podman');
  return false;
}

const containerPids = (name: string) => resolveTargets([`container:${name}`])[0]?.pids ?? [];

test('a container is frozen and thawed by container:NAME and by its id', T, async (t) => {
  if (!requirePodman(t)) return;
  const name = `tf-test-${process.pid}-a`;
  const { id } = startContainer(name);
  for (const target of [`container:${name}`, `container:${id.slice(0, 12)}`]) {
    const result = await runCli(['freeze', target, '--for', '300ms', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const frozen = only(parseEvents(result.stdout), 'frozen') as unknown as {
      processes: unknown[];
      backend: string;
    };
    assert.equal(frozen.processes.length, 3, target);
  }
  assert.equal(containerStatus(name), 'running');
  assert.ok(
    containerPids(name).every((pid) => !/T/.test(taskStates(pid))),
    'nothing left stopped',
  );
});

test(
  'a paused container: refused at once naming podman pause, joined with --join, left paused; thaw and status agree',
  T,
  async (t) => {
    if (!requirePodman(t)) return;
    const name = `tf-test-${process.pid}-b`;
    const { pid } = startContainer(name);
    podman('pause', name);
    for (const target of [`container:${name}`, String(pid)]) {
      const started = performance.now();
      const refused = await runCli(['freeze', target, '--for', '1s', '--timeout', '10s', '--json']);
      const ms = performance.now() - started;
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(only(parseEvents(refused.stdout), 'error').code, 'ALREADY_FROZEN', target);
      assert.match(refused.stderr, /is already frozen \(.*likely by podman pause\)/);
      assert.ok(ms < 5000, `at once, not at the 10 s timeout: ${ms.toFixed(0)} ms`);
      console.log(`# ${target} of a paused container refused after ${ms.toFixed(0)} ms`);
    }
    const joined = await runCli(['freeze', `container:${name}`, '--join', '--for', '300ms']);
    assert.equal(joined.code, 0, joined.stderr);
    assert.equal(containerStatus(name), 'paused', 'a joining hold leaves it paused');
    // thaw --dry-run and status see the same frozen cgroup.
    const dry = await runCli(['thaw', `container:${name}`, '--dry-run']);
    assert.match(dry.stderr, /^would thaw cgroup /, dry.stdout + dry.stderr);
    const status = JSON.parse((await runCli(['status', '--json'])).stdout) as {
      frozenCgroups: { path: string }[];
    };
    const listed = status.frozenCgroups.find(
      (cgroup) => cgroup.path.includes(name) || dry.stderr.includes(cgroup.path),
    );
    assert.ok(listed, `status lists the paused cgroup: ${JSON.stringify(status.frozenCgroups)}`);
    const byPath = await runCli(['thaw', '--cgroup', listed.path, '--dry-run']);
    assert.match(byPath.stderr, /^would thaw cgroup /, byPath.stdout + byPath.stderr);
    podman('unpause', name);
    assert.equal(containerStatus(name), 'running');
  },
);

test(
  'podman pause of a container treefreeze holds: still paused after the hold, running once unpaused',
  T,
  async (t) => {
    if (!requirePodman(t)) return;
    const name = `tf-test-${process.pid}-c`;
    startContainer(name);
    const held = await runCli(['freeze', `container:${name}`, '--detach', '--max-hold', '60s']);
    assert.equal(held.code, 0, held.stderr);
    const id = held.stdout.trim();
    podman('pause', name);
    const thawed = await runCli(['thaw', id]);
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.equal(containerStatus(name), 'paused', "treefreeze's thaw does not undo podman's pause");
    podman('unpause', name);
    assert.equal(containerStatus(name), 'running');
    assert.ok(
      containerPids(name).every((pid) => !/T/.test(taskStates(pid))),
      'nothing left stopped',
    );
  },
);
