/** The command line: a thin layer over the library (argument parsing, output, exit codes). */

import { fstatSync } from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { FreezeError } from '../base/errors.js';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { MAX_CLI_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';
import { eventSink } from './events.js';
import { EXIT } from './exit-codes.js';
import { printable } from './printable.js';
import { type FreezeCliOptions, TARGET_FORMS, type ThawCliOptions } from './usage.js';
import { packageVersion } from './version.js';

/** The commands' work, loaded when one runs (not for --help, --version or a usage error). */
const commands = () => import('./actions.js');

export { EXIT };

function parsePid(value: string): number {
  const pid = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new InvalidArgumentError(`"${value}" is not a process id (a positive integer)`);
  }
  return pid;
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

export function buildProgram(
  setExitCode: (code: number) => void,
  argv: readonly string[] = process.argv,
): Command {
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
      .description('freeze the tree of each target (or a cgroup), hold it, then thaw it')
      .argument('[targets...]', `what to freeze: ${TARGET_FORMS}`)
      .addOption(
        new Option('--for <duration>', 'hold this long, then thaw (default: until a signal)').argParser(
          parseDurationOption,
        ),
      )
      .option(
        '--detach',
        'hold in the background and return once frozen, printing the hold id (needs --max-hold or --for)',
      )
      .option(
        '--until-stdin-closes',
        'hold while standard input stays open; thaw at EOF or when a line reads "thaw" (e.g. over ssh)',
      ),
  )
    .addHelpText(
      'after',
      `
Holds until --for elapses, treefreeze gets SIGINT (Ctrl-C), SIGTERM or SIGHUP, treefreeze thaw
<hold id> asks it to end, or (with --until-stdin-closes) its standard input ends or reads
"thaw"; then thaws and exits 0, or 3
if the hold was broken (a frozen process ran again: someone sent SIGCONT, another freezer
thawed it, the cgroup was thawed). Breaches are reported as they happen and refrozen unless
--on-breach report.

Targets: a pid; a process name (exact, as pgrep -x; --cmd: anywhere in the command line);
:PORT (the process listening on that TCP or UDP port); unit:NAME (a systemd unit's cgroup);
container:ID or container:NAME (a container's cgroup); a cgroup path (/system.slice/db.service,
or cgroup:PATH). A name, port or unit matching several separate trees is an error listing
them, unless --all. Several targets are frozen together and thawed together.

Examples:
  treefreeze freeze 1234 --for 30s            freeze 1234 and its descendants for 30 seconds
  treefreeze freeze postgres --dry-run        show what freezing "postgres" would freeze
  treefreeze freeze :8080 --for 10s           freeze the server listening on port 8080
  treefreeze freeze 1234 --exclude 1240       ... but keep 1240 and its subtree running
  treefreeze freeze 1234 --children-only      freeze the workers, not the supervisor
  treefreeze freeze unit:db --for 10s         freeze a systemd unit with the kernel freezer
  id=$(treefreeze freeze db --detach --max-hold 10m)
                                              freeze in the background; treefreeze thaw $id ends it`,
    )
    .action((specs: string[], options: FreezeCliOptions) =>
      commands().then((run) => run.freeze(specs, options, argv, setExitCode)),
    );

  addFreezeOptions(
    program
      .command('run')
      .description(
        'freeze the tree of each target (or a cgroup), run <command>, thaw when it exits; exit with its code',
      )
      .argument('[targets...]', `what to freeze (${TARGET_FORMS}), then -- and the command to run`)
      .option('--keep-exit-code', "exit with the command's code even if the hold was broken"),
  )
    .addHelpText(
      'after',
      `
The command runs with inherited stdio and is never part of the frozen tree. Signals
treefreeze gets (SIGINT, SIGTERM, SIGHUP) are passed on to the command; treefreeze thaw
<hold id> sends it SIGTERM, and the tree is thawed once it ends. If the hold was
broken while the command ran, treefreeze exits 3 (--keep-exit-code: the command's code).

Examples:
  treefreeze run 1234 -- tar czf /backup/db.tgz /var/lib/db
  treefreeze run 1234 --timeout 2s -- cp -a /srv/state /srv/state.snapshot
  treefreeze run 1234 --json --json-fd 3 -- pg_dump db 3>events.jsonl >db.sql
  treefreeze run --cgroup system.slice/db.service -- pg_basebackup -D /backup`,
    )
    .action((operands: string[], options: FreezeCliOptions) =>
      commands().then((run) => run.run(operands, options, argv, setExitCode)),
    );

  program
    .command('thaw')
    .description(
      'end a hold by its id, or resume every stopped process in the tree of each target, or thaw a cgroup',
    )
    .argument('[targets...]', `a hold id (tf-…, from freeze --detach or status), or ${TARGET_FORMS}`)
    .option('--children-only', 'leave the root as it is')
    .option('--cgroup <path>', 'thaw this cgroup (the same as a cgroup:PATH target)')
    .option('--all', 'a name, port or unit that matches several separate trees: thaw them all')
    .option('--cmd', 'match names anywhere in the full command line (like pgrep -f), not the exact name')
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
  treefreeze thaw tf-3f9a2c                   end a hold (its holder thaws and exits)
  treefreeze thaw 1234 --dry-run
  treefreeze thaw 1234
  treefreeze thaw --cgroup system.slice/db.service`,
    )
    .action((specs: string[], options: ThawCliOptions) => commands().then((run) => run.thaw(specs, options)));

  program
    .command('tree')
    .description('show the tree of each target with states and thread counts')
    .argument('<targets...>', `what to show: ${TARGET_FORMS}`)
    .option('--cgroups', "show each process's cgroup (v2, or the v1 freezer hierarchy)")
    .option('--all', 'a name, port or unit that matches several separate trees: show them all')
    .option('--cmd', 'match names anywhere in the full command line (like pgrep -f), not the exact name')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
Each line: pid, task states (T stopped, S sleeping, R running, D uninterruptible, Z zombie),
thread count, command name.

Example:
  treefreeze tree $$`,
    )
    .action((specs: string[], options: { json?: boolean; cgroups?: boolean; all?: boolean; cmd?: boolean }) =>
      commands().then((run) => run.tree(specs, options)),
    );

  program
    .command('status')
    .description("list your holds (root: everyone's), and what is frozen or stopped that no hold owns")
    .option('--json', 'print one JSON document on stdout')
    .addHelpText(
      'after',
      `
Each hold: its id, what it holds, its backend, how long it has held, the lease left, whether the
hold is intact, and its holder's pid. A hold whose holder is gone (killed) is shown once as ended;
whatever of it is still stopped is listed after it. Then every cgroup left frozen and every tree
of stopped processes that no hold owns, with the command that resumes it. Root also lists other
users' holds, as their holders describe themselves (see docs/security.md).

Example:
  treefreeze status`,
    )
    .action((options: { json?: boolean }) => commands().then((run) => run.status(options)));

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
    .action(() => commands().then((run) => run.demo(setExitCode)));

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
  }, argv);
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
    // The reason quotes the words given (outside text): escaped, but for commander's own
    // "(Did you mean ...?)" line, which names our commands and options only.
    const [, said = reason, suggestion = ''] =
      /^([\s\S]*?)(?:\n(\(Did you mean [^\n]*\?\)))?$/.exec(reason) ?? [];
    const hint = suggestion === '' ? '' : `\n${printable(suggestion)}`;
    process.stderr.write(`treefreeze: ${printable(said)}${hint}\nusage: ${name} ${command.usage()}\n`);
    return EXIT.USAGE;
  }
  if (error instanceof FreezeError) {
    if (wantsJson(argv)) errorEvent(argv, { code: error.code, message: error.message, pids: error.pids });
    process.stderr.write(`treefreeze: ${printable(error.message)}\n`);
    return EXIT.FAILED;
  }
  // A stack trace may quote outside text (a path, a name): escaped line by line, still readable.
  const trace = String((error as Error)?.stack ?? error)
    .split('\n')
    .map(printable)
    .join('\n');
  process.stderr.write(`treefreeze: unexpected error: ${trace}\n`);
  return EXIT.FAILED;
}
