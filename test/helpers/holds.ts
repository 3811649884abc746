/** The registry of holds, as the tests see it: only the holders they started themselves. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDirPath } from '../../src/cli/runtime-dir.js';

/** Where a hold's entry lives. */
export function holdFile(id: string): string {
  return join(runtimeDirPath(), `${id}.json`);
}

/** Those of `pids` that are still running treefreeze holders (a Node process running the CLI). */
export function runningHolders(pids: Iterable<number>): number[] {
  return [...pids].filter((pid) => {
    try {
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      return state !== 'Z' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cli.js');
    } catch {
      return false;
    }
  });
}
