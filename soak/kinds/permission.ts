/** Trial kind: the freezer as user nobody, on root's tree and on its own. */
import { spawn } from 'node:child_process';
import {
  fixturePath,
  killGroupOf,
  readyLine,
  stageForOtherUser,
  startTree,
  type TestTree,
} from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

export const permission: Kind = {
  name: 'permission',
  what: "the freezer as user nobody on root's tree (refused, nothing stopped) and on its own tree (frozen, thawed)",
  runs: 20,
  needsRoot: true,
  async run(index) {
    const staged = stageForOtherUser();
    const violations: string[] = [];
    try {
      const own = index % 2 === 1;
      // A tree of nobody's, or of root's.
      const tree = own ? await startTreeAs(65534) : await startTree('tree', 4, 2);
      const result = await new Promise<string>((resolve) => {
        const child = spawn(process.execPath, [staged.script, 'tree', String(tree.root)], {
          uid: 65534,
          gid: 65534,
          cwd: '/',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        let out = '';
        child.stdout.on('data', (data) => {
          out += data;
        });
        child.once('close', () => resolve(out));
      });
      const report = JSON.parse(result || '{}');
      if (own && report.ok !== true) violations.push(`nobody could not freeze its own tree: ${report.code}`);
      if (!own && report.code !== 'NOT_PERMITTED')
        violations.push(`expected NOT_PERMITTED, got ${report.code}`);
      if (own && Object.values(report.during ?? {}).some((states) => !/^T+$/.test(String(states))))
        violations.push('resolved with a running task');
      if (stoppedOf(tree.pids).length > 0) violations.push('left stopped');
      tree.kill();
    } finally {
      staged.remove();
    }
    return { violations, figures: {} };
  },
};

/** The fixture started as another user (in its own session). */
async function startTreeAs(uid: number): Promise<TestTree> {
  const child = spawn(fixturePath(), ['tree', '4', '2'], {
    detached: true,
    uid,
    gid: uid,
    cwd: '/',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await readyLine(child, 'treefix as another user');
  const pids = line.split(' ').slice(1).map(Number);
  return { root: pids[0] as number, pids, child, kill: () => killGroupOf(child) };
}
