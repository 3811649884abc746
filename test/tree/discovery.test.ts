import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { readChildren, readProcFile, readTaskStates } from '../../src/kernel/procfs.js';
import { type DiscoveryOptions, discoverTree, forgetSystemSize, listTree } from '../../src/tree/discovery.js';
import { cleanupTrees, descendantsByScan, startTree, unusedPid } from '../helpers/index.js';

after(async () => {
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

// Every way discovery can go: 'auto' with a size hint decides at once for the scan, taking the
// listing of /proc it decided on.
const ways = [
  { method: 'children-files' },
  { method: 'scan' },
  { method: 'auto' },
  { method: 'auto', sizeHint: 1_000_000 },
] as const;
const named = (way: (typeof ways)[number]) => ('sizeHint' in way ? `${way.method}, size hint` : way.method);
/** Discovers one way; the size-hinted way starts with the system's size unknown, so it lists /proc to decide. */
function discoverWay(root: number, way: (typeof ways)[number], known?: DiscoveryOptions['known']) {
  if ('sizeHint' in way) forgetSystemSize();
  return discoverTree(root, { ...way, known });
}

describe('listTree', () => {
  for (const way of ways) {
    const method = named(way);
    test(`finds every process of a 13 x 3 tree (${method})`, async () => {
      const tree = await startTree('tree', 13, 3);
      const nodes = discoverWay(tree.root, way);
      assert.deepEqual(nodes.map((n) => n.pid).sort(), [...tree.pids].sort());
      assert.deepEqual(nodes.map((n) => n.pid).sort(), descendantsByScan(tree.root).sort());
      assert.equal(nodes[0]?.pid, tree.root, 'root first');
      const position = new Map(nodes.map((n, i) => [n.pid, i]));
      for (const node of nodes) {
        assert.equal(node.threads, 3);
        if (node.pid !== tree.root)
          assert.ok((position.get(node.ppid) ?? 99) < (position.get(node.pid) ?? 0));
        for (const child of node.children) assert.ok(position.has(child));
      }
      tree.kill();
    });

    test(`finds a child forked by a non-main thread (${method})`, async () => {
      const tree = await startTree('threadfork');
      const [root, child] = tree.pids as [number, number];
      // The main thread's children file does not list it: only the forking thread's does.
      assert.equal(readProcFile(`/proc/${root}/task/${root}/children`)?.trim(), '');
      assert.deepEqual(readChildren(root), [child]);
      assert.deepEqual(
        discoverWay(root, way).map((n) => n.pid),
        [root, child],
      );
      tree.kill();
    });

    test(`finds the children of a process whose main thread exited (${method})`, async () => {
      const tree = await startTree('leaderexit');
      const [root, ...children] = tree.pids as [number, number, number];
      const nodes = discoverWay(root, way);
      assert.equal(nodes[0]?.state, 'Z', '/proc/P/stat reads Z while the process lives');
      // (sorted: /proc lists a process's tasks in no order one can count on)
      assert.match(
        readTaskStates(root)
          ?.map((t) => t.state)
          .sort()
          .join('') ?? '',
        /^[RS]Z$/,
        'a zombie leader and a live thread',
      );
      assert.deepEqual(nodes.map((n) => n.pid).sort(), [root, ...children].sort());
      tree.kill();
    });
  }

  for (const way of ways) {
    const method = named(way);
    test(`known processes are taken as given, their children still found (${method})`, async () => {
      const tree = await startTree('tree', 7, 1);
      const full = discoverWay(tree.root, way);
      // Every process but the root (always read: it proves the tree is there) and the last leaf
      // is known, under a name it does not have: read again, it would show its real name.
      const leaf = full[full.length - 1] as (typeof full)[number];
      const known = new Map(
        full
          .filter((node) => node.pid !== leaf.pid && node.pid !== tree.root)
          .map((node) => [
            node.pid,
            { ...node, numThreads: node.threads, comm: `known-${node.pid}`, state: 'T' },
          ]),
      );
      const nodes = discoverWay(tree.root, way, known);
      assert.deepEqual(nodes.map((n) => n.pid).sort(), [...tree.pids].sort());
      for (const node of nodes) {
        if (node.pid === leaf.pid || node.pid === tree.root) assert.equal(node.comm, leaf.comm, 'read');
        else assert.equal(node.comm, `known-${node.pid}`, 'a known process is not read again');
      }
      tree.kill();
    });
  }

  test('exclude leaves out a whole subtree; includeRoot: false leaves out the root', async () => {
    const tree = await startTree('tree', 13, 1);
    const all = listTree(tree.root);
    const firstChild = all[0]?.children[0] as number;
    const subtree = listTree(firstChild).map((n) => n.pid);
    assert.ok(subtree.length > 1);
    const rest = listTree(tree.root, { exclude: [firstChild] }).map((n) => n.pid);
    assert.equal(rest.length, all.length - subtree.length);
    for (const pid of subtree) assert.ok(!rest.includes(pid));
    const descendants = listTree(tree.root, { includeRoot: false }).map((n) => n.pid);
    assert.ok(!descendants.includes(tree.root));
    assert.equal(descendants.length, all.length - 1);
    tree.kill();
  });

  test('a missing root is NO_SUCH_PROCESS', () => {
    const pid = unusedPid();
    assert.throws(
      () => listTree(pid),
      (error: unknown) =>
        error instanceof FreezeError && error.code === 'NO_SUCH_PROCESS' && error.pids[0] === pid,
    );
  });
});

describe('procfs readers', () => {
  test('a vanished process reads as null, not an error', () => {
    const pid = unusedPid();
    assert.equal(readProcFile(`/proc/${pid}/stat`), null);
    assert.equal(readTaskStates(pid), null);
    assert.equal(readChildren(pid), null);
  });

  test('reads a file larger than one read() to EOF', async () => {
    const { readFileSync } = await import('node:fs');
    // /proc/self/maps of a Node process is tens of kilobytes, served a page per read.
    const text = readProcFile('/proc/self/smaps') ?? '';
    assert.ok(text.length > 16384, `smaps is ${text.length} bytes`);
    const again = readFileSync('/proc/self/smaps', 'utf8');
    assert.ok(Math.abs(again.length - text.length) < again.length / 4);
    assert.ok(text.trimEnd().endsWith('kB') || text.includes('VmFlags'));
  });
});
