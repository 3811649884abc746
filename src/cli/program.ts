/** The command line: a thin layer over the library (argument parsing, output, exit codes). */

import { fstatSync } from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { count, FreezeError } from '../errors.js';
import { frozenCgroupHolding } from '../kernel/cgroupfs.js';
import { thawCgroup, thawTree } from '../thaw.js';
import { listTree } from '../tree/discovery.js';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { runDemo } from './demo.js';
import { MAX_CLI_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';
import { eventSink } from './events.js';
import { EXIT } from './exit-codes.js';
import { type HoldOptions, holdFreeze, runFrozen } from './hold.js';
import { paint, useColor } from './style.js';
import { describeTree, renderTree } from './tree-view.js';
import { packageVersion } from './version.js';

export { EXIT };

function parsePid(value: string): number {
  const pid = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a process id (a positive integer)`);
  }
  return pid;
}

class UsageError extends CommanderError {
  constructor(message: string) {
    super(EXIT.USAGE, 'treefreeze.usage', message);
  }
}

/** The target: a pid operand, or --cgroup (not both, not neither). */
function target(
  pidText: string | undefined,
  cgroup: string | undefined,
  allowCgroup = true,
): number | undefined {
  if (cgroup !== undefined && allowCgroup) {
    if (pidText !== undefined) throw new UsageError('give a pid or --cgroup, not both');
    return undefined;
  }
  if (pidText === undefined) throw new UsageError("missing required argument 'pid'");
  try {
    return parsePid(pidText);
  } catch (error) {
    throw new UsageError(`pid: ${(error as Error).message}`);
  }
}

function parseDurationOption(value: string): number {
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
function addFreezeOptions(command: Command): Command {
  return command
    .option('--children-only', "freeze only the root's descendants; the root keeps running")
    .option('--exclude <pid>', 'leave this process and its subtree running (repeatable)', collectPids)
    .addOption(
      new Option('--timeout <duration>', 'give up (and resume everything) if the freeze takes longer')
        .argParser(parseDurationOption)
        .default(5000, '5s'),
    )
    .addOption(
      new Option(
        '--max-hold <duration>',
        'thaw after this long even if treefreeze hangs (a lease)',
      ).argParser(parseDurationOption),
    )
    .option('--no-watchdog', 'do not start the watchdog that thaws the tree if treefreeze dies')
    .option('--cgroup <path>', 'freeze this cgroup with the kernel freezer instead of a pid tree')
    .addOption(
      new Option(
        '--backend <name>',
        'how to freeze a pid tree: signals, its own cgroup, or cgroup if possible',
      )
        .choices(['signal', 'cgroup', 'auto'])
        .default('signal'),
    )
    .addOption(
      new Option(
        '--on-breach <policy>',
        'if a frozen process runs again while held: stop it again, or only report it',
      )
        .choices(['refreeze', 'report'])
        .default('refreeze'),
    )
    .addOption(
      new Option('--check-interval <duration>', 'how often the hold is verified')
        .argParser(parseDurationOption)
        .default(100, '100ms'),
    )
    .option('--json', 'print JSON Lines events (frozen, breach, thawed) instead of human output')
    .addOption(
      new Option(
        '--json-fd <fd>',
        'write the --json events to this open file descriptor (run: required)',
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
  try {
    fstatSync(fd);
  } catch {
    throw new InvalidArgumentError(
      `file descriptor ${fd} is not open (give it to treefreeze, e.g. ${fd}>events.jsonl)`,
    );
  }
  return fd;
}

interface FreezeCliOptions {
  cgroup?: string;
  backend: 'signal' | 'cgroup' | 'auto';
  childrenOnly?: boolean;
  exclude?: number[];
  timeout: number;
  maxHold?: number;
  watchdog: boolean;
  json?: boolean;
  for?: number;
  onBreach: 'refreeze' | 'report';
  checkInterval: number;
  keepExitCode?: boolean;
  jsonFd?: number;
}

interface ThawCliOptions {
  childrenOnly?: boolean;
  cgroup?: string;
  json?: boolean;
  dryRun?: boolean;
  machineWide?: boolean;
}

function holdOptions(pid: number | undefined, options: FreezeCliOptions): HoldOptions {
  return {
    root: pid,
    cgroup: options.cgroup,
    backend: options.backend,
    childrenOnly: Boolean(options.childrenOnly),
    exclude: options.exclude ?? [],
    timeoutMs: options.timeout,
    maxHoldMs: options.maxHold,
    watchdog: options.watchdog,
    json: Boolean(options.json),
    forMs: options.for,
    onBreach: options.onBreach,
    checkIntervalMs: options.checkInterval,
    keepExitCode: Boolean(options.keepExitCode),
    jsonFd: options.jsonFd,
  };
}

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('treefreeze')
    .description(
      'Freeze a Linux process tree (every thread of every descendant, provably stopped) and thaw it again.',
    )
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false })
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 the freeze or thaw failed (nothing left frozen); 2 usage error;
3 the hold was broken (a frozen process ran again before the thaw);
run: the command's exit code (128+n if killed by signal n, 126/127 if it cannot run),
or 3 if the hold was broken while it ran (--keep-exit-code: the command's code anyway).`,
    );

  addFreezeOptions(
    program
      .command('freeze')
      .description('freeze the tree of <pid> (or a cgroup), hold it, then thaw it')
      .argument('[pid]', 'root of the tree')
      .addOption(
        new Option('--for <duration>', 'hold this long, then thaw (default: until a signal)').argParser(
          parseDurationOption,
        ),
      ),
  )
    .addHelpText(
      'after',
      `
Holds until --for elapses or treefreeze gets SIGINT (Ctrl-C), SIGTERM or SIGHUP, then thaws and
exits 0, or 3 if the hold was broken (a frozen process ran again: someone sent SIGCONT, another
freezer thawed it, the cgroup was thawed). Breaches are reported as they happen and refrozen
unless --on-breach report.

Examples:
  treefreeze freeze 1234 --for 30s            freeze 1234 and its descendants for 30 seconds
  treefreeze freeze 1234 --exclude 1240       ... but keep 1240 and its subtree running
  treefreeze freeze 1234 --children-only      freeze the workers, not the supervisor
  treefreeze freeze --cgroup system.slice/db.service --for 10s
                                              freeze a cgroup with the kernel freezer`,
    )
    .action(async (pidText: string | undefined, options: FreezeCliOptions) => {
      const pid = target(pidText, options.cgroup);
      setExitCode(await holdFreeze(holdOptions(pid, options)));
    });

  addFreezeOptions(
    program
      .command('run')
      .description(
        'freeze the tree of <pid> (or a cgroup), run <command>, thaw when it exits; exit with its code',
      )
      .argument('[pid]', 'root of the tree (omit with --cgroup)')
      .argument('[command...]', 'the command to run while the tree is frozen (after --)')
      .option('--keep-exit-code', "exit with the command's code even if the hold was broken"),
  )
    .addHelpText(
      'after',
      `
The command runs with inherited stdio and is never part of the frozen tree. Signals
treefreeze gets (SIGINT, SIGTERM, SIGHUP) are passed on to the command. If the hold was
broken while the command ran, treefreeze exits 3 (--keep-exit-code: the command's code).

Examples:
  treefreeze run 1234 -- tar czf /backup/db.tgz /var/lib/db
  treefreeze run 1234 --timeout 2s -- cp -a /srv/state /srv/state.snapshot
  treefreeze run 1234 --json --json-fd 3 -- pg_dump db 3>events.jsonl >db.sql
  treefreeze run --cgroup system.slice/db.service -- pg_basebackup -D /backup`,
    )
    .action(async (pidText: string | undefined, rest: string[], options: FreezeCliOptions) => {
      // With --cgroup there is no pid: the first word after -- is the command.
      const commandLine = options.cgroup !== undefined && pidText !== undefined ? [pidText, ...rest] : rest;
      const pid = target(options.cgroup !== undefined ? undefined : pidText, options.cgroup);
      if (commandLine.length === 0) throw new UsageError('run needs a command after --');
      if (options.json && options.jsonFd === undefined) {
        throw new UsageError(
          "run --json needs --json-fd N: the command's own output uses stdout (e.g. --json-fd 3 3>events.jsonl)",
        );
      }
      setExitCode(await runFrozen(holdOptions(pid, options), commandLine));
    });

  program
    .command('thaw')
    .description('resume every stopped process in the tree of <pid>, or thaw a cgroup (recovery)')
    .argument('[pid]', 'root of the tree')
    .option('--children-only', 'leave the root as it is')
    .option('--cgroup <path>', 'thaw this cgroup instead')
    .option('--dry-run', 'list what would be resumed; change nothing')
    .option('--machine-wide', 'allow pid 1: resume every stopped process on the machine')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
For a tree that something else left stopped (a killed script, kill -STOP). Resumes
every process with a stopped task, including ones stopped on purpose. pid 1 (the whole
machine) is refused unless --machine-wide; kernel threads are always refused.

Examples:
  treefreeze thaw 1234 --dry-run
  treefreeze thaw 1234
  treefreeze thaw --cgroup system.slice/db.service`,
    )
    .action((pidText: string | undefined, options: ThawCliOptions) => {
      const pid = target(pidText, options.cgroup);
      const dryRun = Boolean(options.dryRun);
      if (pid === undefined) {
        const thawed = thawCgroup(options.cgroup as string, { dryRun });
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ command: 'thaw', dryRun, ...thawed })}\n`);
        } else if (dryRun) {
          process.stderr.write(
            `${thawed.wasFrozen ? 'would thaw' : 'nothing to thaw: not frozen:'} cgroup ${thawed.path}\n`,
          );
        } else {
          process.stderr.write(`${thawed.wasFrozen ? 'thawed' : 'was not frozen:'} cgroup ${thawed.path}\n`);
        }
        return;
      }
      const resumed = thawTree(pid, {
        includeRoot: !options.childrenOnly,
        dryRun,
        machineWide: Boolean(options.machineWide),
      });
      // Frozen by a cgroup freezer, a process reads S, not T: say which cgroup to thaw instead.
      const frozenCgroup = resumed.length === 0 ? frozenCgroupHolding(pid) : null;
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({ command: 'thaw', root: pid, dryRun, resumed, frozenCgroup })}\n`,
        );
      } else if (resumed.length === 0) {
        const hint = frozenCgroup
          ? `; it is in frozen cgroup ${frozenCgroup}: treefreeze thaw --cgroup ${frozenCgroup}`
          : '';
        process.stderr.write(`nothing to resume: no process in the tree of ${pid} is stopped${hint}\n`);
      } else {
        const list = resumed.map((p) => `${p.pid} (${p.comm})`).join(', ');
        const verb = dryRun ? 'would resume' : 'resumed';
        process.stderr.write(`${verb} ${count(resumed.length, 'process', 'processes')}: ${list}\n`);
      }
    });

  program
    .command('tree')
    .description('show the tree of <pid> with states and thread counts')
    .argument('<pid>', 'root of the tree', parsePid)
    .option('--cgroups', "show each process's cgroup (v2, or the v1 freezer hierarchy)")
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
Each line: pid, task states (T stopped, S sleeping, R running, D uninterruptible, Z zombie),
thread count, command name.

Example:
  treefreeze tree $$`,
    )
    .action((pid: number, options: { json?: boolean; cgroups?: boolean }) => {
      const entries = describeTree(listTree(pid), Boolean(options.cgroups));
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ command: 'tree', root: pid, processes: entries })}\n`);
        return;
      }
      const color = useColor(process.stdout);
      const threads = entries.reduce((sum, entry) => sum + entry.threads, 0);
      process.stdout.write(`${renderTree(entries, color)}\n`);
      process.stderr.write(
        `${paint(color, 'dim', `${count(entries.length, 'process', 'processes')}, ${count(threads, 'thread')}`)}\n`,
      );
    });

  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .addHelpText(
      'after',
      `
Examples:
  eval "$(treefreeze completion bash)"       in ~/.bashrc
  eval "$(treefreeze completion zsh)"        in ~/.zshrc
  treefreeze completion fish | source        in ~/.config/fish/config.fish`,
    )
    .action((shell: Shell) => {
      process.stdout.write(completionScript(shell, program));
    });

  program
    .command('demo')
    .description('a self-contained demonstration: freeze a sample workload and watch its heartbeats stop')
    .action(async () => setExitCode(await runDemo()));

  return program;
}

/**
 * A reader that went away (`| head`, `| jq` that failed) is not our error: output to it is
 * dropped, and the command goes on (a hold still thaws and says so where it can). Without
 * this, Node ends the process with an unhandled 'write EPIPE' and its stack.
 */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  ignoreClosedPipes();
  let exitCode: number = EXIT.OK;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  const silenceCommanderErrors = (command: Command) => {
    command.exitOverride().configureOutput({ outputError: () => {} });
    for (const sub of command.commands) silenceCommanderErrors(sub);
  };
  silenceCommanderErrors(program);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    return reportError(error, program, argv);
  }
}

/** --json among treefreeze's own arguments (not the words after `--`, which are run's command). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** The "error" event, where --json-fd sends the events (else stdout). */
function errorEvent(argv: string[], error: { code: string; message: string; pids: readonly number[] }): void {
  const own = argv.indexOf('--') < 0 ? argv : argv.slice(0, argv.indexOf('--'));
  const at = own.indexOf('--json-fd');
  const fd = at >= 0 && /^\d+$/.test(own[at + 1] ?? '') ? Number(own[at + 1]) : 1;
  try {
    eventSink(fd)({ event: 'error', ...error });
  } catch {
    eventSink(1)({ event: 'error', ...error }); // that descriptor was the problem
  }
}

function reportError(error: unknown, program: Command, argv: string[]): number {
  if (error instanceof CommanderError) {
    if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code))
      return EXIT.OK;
    // "command-argument value 'abc' is invalid for argument 'pid'. <why>" -> "pid: <why>"
    const reason = error.message
      .replace(/^error: /, '')
      .replace(/^command-argument value .* is invalid for argument '([^']+)'\. /s, '$1: ')
      .replace(/^option '([^' ]+)[^']*' argument .* is invalid\. /s, '$1: ');
    const command = program.commands.find((sub) => sub.name() === argv[2]) ?? program;
    const name = command === program ? 'treefreeze' : `treefreeze ${command.name()}`;
    if (wantsJson(argv)) errorEvent(argv, { code: 'USAGE', message: reason, pids: [] });
    process.stderr.write(`treefreeze: ${reason}\nusage: ${name} ${command.usage()}\n`);
    return EXIT.USAGE;
  }
  if (error instanceof FreezeError) {
    if (wantsJson(argv)) errorEvent(argv, { code: error.code, message: error.message, pids: error.pids });
    process.stderr.write(`treefreeze: ${error.message}\n`);
    return EXIT.FAILED;
  }
  process.stderr.write(`treefreeze: unexpected error: ${(error as Error)?.stack ?? error}\n`);
  return EXIT.FAILED;
}
