/**
 * What a shell completes where a target or a hold id goes (`treefreeze __complete <command>`,
 * asked by the scripts of completion.ts): hold ids (for thaw), process ids and process names.
 * The words end up in a shell's word list, which bash expands (compgen -W), and process names
 * are anyone's to choose: only names made of plainly safe characters are offered.
 */
import { scanAllProcesses } from '../kernel/procfs.js';
import { isKernelThreadStat } from '../kernel/stat.js';
import { holderRuns, listHolds } from './hold-registry.js';
import { existingRuntimeDir } from './runtime-dir.js';

/** A name a shell may expand without effect, that is not an option, a pid or a hold id's shape. */
const OFFERED_NAME = /^[A-Za-z_.+@%,=][A-Za-z0-9_.+@%,=-]*$/;

/** The commands whose operands are targets; thaw also takes hold ids. */
const TARGET_COMMANDS = ['freeze', 'run', 'tree', 'thaw'];

export function completionOperands(command: string): string[] {
  if (!TARGET_COMMANDS.includes(command)) return [];
  const processes = scanAllProcesses().filter((stat) => !isKernelThreadStat(stat));
  const names = new Set(processes.map((stat) => stat.comm).filter((name) => OFFERED_NAME.test(name)));
  return [
    ...(command === 'thaw' ? ownHoldIds() : []),
    ...[...names].sort(),
    ...processes.map((stat) => String(stat.pid)),
  ];
}

/** This user's live holds; nothing when there is no registry (or it is not safe to read). */
function ownHoldIds(): string[] {
  try {
    const dir = existingRuntimeDir();
    if (dir === null) return [];
    return listHolds(dir)
      .records.filter(holderRuns)
      .map((record) => record.id);
  } catch {
    return [];
  }
}

export function printCompletionOperands(command: string | undefined): void {
  process.stdout.write(
    completionOperands(command ?? '')
      .map((word) => `${word}\n`)
      .join(''),
  );
}
