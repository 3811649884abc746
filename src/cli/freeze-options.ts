/**
 * The options freeze and run share, and the parsers of option values: a value that does not
 * parse is a usage error that says what was expected.
 */

import { constants, fstatSync, readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { BREACH_POLICIES } from '../backends/breach.js';
import {
  BACKEND_CHOICES,
  DEFAULT_BACKEND,
  DEFAULT_BREACH_POLICY,
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
} from '../hold/plan.js';
import { durationOptionText, MAX_CLI_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';

/** freeze --prepare: how long a prepared hold waits for its order before it exits unfrozen. */
export const DEFAULT_PREPARE_TIMEOUT_MS = 60_000;

/** release: how long after its time an order to freeze may still reach the hold and be done. */
export const DEFAULT_RELEASE_WITHIN_MS = 2_000;

/** A time in ms since the epoch (release --at), as `date +%s%3N` prints it. */
export function parseEpochMs(value: string): number {
  const ms = Number(value);
  if (!/^\d{1,15}$/.test(value) || !Number.isSafeInteger(ms)) {
    throw new InvalidArgumentError(`"${value}" is not a time in ms since the epoch (e.g. $(date +%s%3N))`);
  }
  return ms;
}

function parsePid(value: string): number {
  const pid = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a process id (a positive integer)`);
  }
  return pid;
}

export function parseDurationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === null) {
    throw new InvalidArgumentError(`"${value}" is not a duration (examples: 500ms, 30s, 1m30s, 2h, 3d)`);
  }
  if (ms > MAX_CLI_DURATION_MS) {
    throw new InvalidArgumentError(
      `"${value}" is longer than the longest duration accepted, ${MAX_DURATION_TEXT}`,
    );
  }
  return ms;
}

function collectPids(value: string, previous: number[] = []): number[] {
  return [...previous, parsePid(value)];
}

/** The options shared by freeze and run. */
export function addFreezeOptions(command: Command): Command {
  return command
    .option('--children-only', "freeze only the root's descendants; the root keeps running")
    .option('--exclude <pid>', 'leave this process and its subtree running (repeatable)', collectPids)
    .addOption(
      new Option('--timeout <duration>', 'give up (and resume everything) if the freeze takes longer')
        .argParser(parseDurationOption)
        .default(DEFAULT_TIMEOUT_MS, durationOptionText(DEFAULT_TIMEOUT_MS)),
    )
    .addOption(
      new Option(
        '--max-hold <duration>',
        'thaw after this long even if treefreeze hangs (a lease)',
      ).argParser(parseDurationOption),
    )
    .option('--no-watchdog', 'do not start the watchdog that thaws the tree if treefreeze dies')
    .option(
      '--join',
      'a process another hold holds: hold it too (it stays stopped until the last hold ends), instead of failing',
    )
    .option(
      '--cgroup <path>',
      'freeze this cgroup with the kernel freezer (the same as a cgroup:PATH target)',
    )
    .option('--all', 'a name, port or unit that matches several separate trees: freeze them all')
    .option('--cmd', 'match names anywhere in the full command line (like pgrep -f), not the exact name')
    .option('--dry-run', 'show what would be frozen; freeze nothing')
    .addOption(
      new Option(
        '--backend <name>',
        'how to freeze a pid tree: signals; its own cgroup; or (auto) its cgroup when that holds exactly the tree, else signals',
      )
        .choices(BACKEND_CHOICES)
        .default(DEFAULT_BACKEND),
    )
    .addOption(
      new Option(
        '--on-breach <policy>',
        'if a frozen process runs again while held: stop it again, or only report it',
      )
        .choices(BREACH_POLICIES)
        .default(DEFAULT_BREACH_POLICY),
    )
    .addOption(
      new Option('--check-interval <duration>', 'how often the hold is verified')
        .argParser(parseDurationOption)
        .default(DEFAULT_CHECK_INTERVAL_MS, durationOptionText(DEFAULT_CHECK_INTERVAL_MS)),
    )
    .option('--json', 'print JSON Lines events (frozen, breach, thawed) instead of human output')
    .addOption(
      new Option(
        '--json-fd <fd>',
        'write the JSON events to this descriptor you opened (implies --json; run: its only way)',
      ).argParser(parseFd),
    );
}

function parseFd(value: string): number {
  const fd = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(fd) || fd < 1) {
    throw new InvalidArgumentError(
      `"${value}" is not a file descriptor (a number from 1, e.g. 3 with 3>events.jsonl)`,
    );
  }
  const problem = descriptorProblem(fd);
  if (problem !== null) {
    throw new InvalidArgumentError(`file descriptor ${fd} ${problem}: give one, e.g. ${fd}>events.jsonl`);
  }
  return fd;
}

/**
 * Why `fd` cannot take the events, or null. Node's own descriptors are open too (libuv's epoll
 * and eventfd): a number the caller did not give is one of those, and a write to it failed with
 * EINVAL after the tree was frozen. So: a file, pipe, socket or terminal, open for writing.
 */
function descriptorProblem(fd: number): string | null {
  let stat: ReturnType<typeof fstatSync>;
  try {
    stat = fstatSync(fd);
  } catch {
    return 'is not open';
  }
  if (!(stat.isFile() || stat.isFIFO() || stat.isSocket() || stat.isCharacterDevice())) {
    return 'was not given to treefreeze';
  }
  const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  const access = flags === undefined ? constants.O_RDWR : Number.parseInt(flags, 8) & 3;
  return access === constants.O_RDONLY ? 'is open for reading only' : null;
}
