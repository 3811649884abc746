/** A freezer in a process of its own, for the trials that SIGKILL it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freezeChildScript } from '../test/helpers/index.js';

/** A separate freezer process (test/scripts/freeze-child.mjs): its JSON lines as they come. */
export function startFreezer(
  args: string[],
  options: { detached?: boolean; stdin?: boolean; cgroup?: string; withSibling?: boolean } = {},
) {
  // In a cgroup of its own (moved there before it starts), or beside a sibling in its group.
  const prelude = [
    options.cgroup ? `echo $$ > ${JSON.stringify(join(options.cgroup, 'cgroup.procs'))} || exit 1` : '',
    options.withSibling ? 'sleep 30 >/dev/null 2>&1 &' : '',
  ].filter(Boolean);
  const freezer = [freezeChildScript(), ...args];
  const [command, argv] =
    prelude.length === 0
      ? [process.execPath, freezer]
      : ['sh', ['-c', [...prelude, 'exec "$0" "$@"'].join('\n'), process.execPath, ...freezer]];
  const child = spawn(command, argv, {
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'ignore'],
    detached: options.detached ?? false,
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (data) => {
    buffered += data;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
    }
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, lines, closed };
}
