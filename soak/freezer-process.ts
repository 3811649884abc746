/** A freezer in a process of its own, for the trials that SIGKILL it. */
import { spawn } from 'node:child_process';
import { freezeChildScript } from '../test/helpers/index.js';

/** A separate freezer process (test/scripts/freeze-child.mjs): its JSON lines as they come. */
export function startFreezer(args: string[], options: { detached?: boolean; stdin?: boolean } = {}) {
  const child = spawn(process.execPath, [freezeChildScript(), ...args], {
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
