/** What the command line's parser hands to the commands: its option shapes, and its usage error. */
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';

export class UsageError extends CommanderError {
  constructor(message: string) {
    super(EXIT.USAGE, 'treefreeze.usage', message);
  }
}

export interface TargetCliOptions {
  cgroup?: string;
  all?: boolean;
  cmd?: boolean;
}

export const TARGET_FORMS =
  'a pid, a process name or name:NAME, :PORT, unit:NAME, container:ID or a cgroup path';

export interface FreezeCliOptions extends TargetCliOptions {
  dryRun?: boolean;
  detach?: boolean;
  untilStdinCloses?: boolean;
  prepare?: boolean;
  prepareTimeout?: number;
  backend: 'signal' | 'cgroup' | 'auto';
  childrenOnly?: boolean;
  exclude?: number[];
  timeout: number;
  maxHold?: number;
  watchdog: boolean;
  join?: boolean;
  json?: boolean;
  for?: number;
  onBreach: 'refreeze' | 'report';
  checkInterval: number;
  keepExitCode?: boolean;
  jsonFd?: number;
}

export interface ReleaseCliOptions {
  at?: number;
  within: number;
  /** Once frozen, thaw at this time (ms since the epoch) from the same process. */
  thawAt?: number;
  json?: boolean;
}

export interface ThawCliOptions extends TargetCliOptions {
  /** Thaw at this time (ms since the epoch): the command starts, then waits, so its start costs no hold. */
  at?: number;
  childrenOnly?: boolean;
  json?: boolean;
  dryRun?: boolean;
  machineWide?: boolean;
}
