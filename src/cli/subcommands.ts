/**
 * The subcommands' definitions, one function each, in the order --help lists them. The man page
 * and the shell completions are generated from these definitions (manpage.ts, completion.ts).
 */

import { Argument, type Command, Option } from 'commander';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { durationOptionText } from './duration.js';
import {
  addFreezeOptions,
  DEFAULT_PREPARE_TIMEOUT_MS,
  DEFAULT_RELEASE_WITHIN_MS,
  parseDurationOption,
  parseEpochMs,
} from './freeze-options.js';
import { type FreezeCliOptions, type ReleaseCliOptions, TARGET_FORMS, type ThawCliOptions } from './usage.js';

/** The commands' work, loaded when one runs (not for --help, --version or a usage error). */
const commands = () => import('./actions.js');

/** Where a command that decides the exit code (freeze, run, demo) reports it. */
export type SetExitCode = (code: number) => void;

export function addFreezeCommand(program: Command, argv: readonly string[], setExitCode: SetExitCode): void {
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
      )
      .option(
        '--prepare',
        'get ready (check the targets, start the watchdogs), print "prepared", and freeze only on an order: a line "freeze" (--until-stdin-closes) or treefreeze release (--detach)',
      )
      .addOption(
        new Option(
          '--prepare-timeout <duration>',
          'with --prepare: exit without freezing if no order comes within this long',
        )
          .argParser(parseDurationOption)
          .default(DEFAULT_PREPARE_TIMEOUT_MS, durationOptionText(DEFAULT_PREPARE_TIMEOUT_MS)),
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

Targets: a pid; a process name (exact, as pgrep -x; --cmd: anywhere in the command line;
name:NAME for any name, one that starts with a digit or a dash too);
:PORT (the process listening on that TCP or UDP port); unit:NAME (a systemd unit's cgroup);
container:ID or container:NAME (a container's cgroup); a cgroup path (/system.slice/db.service,
or cgroup:PATH). A name, port or unit matching several separate trees is an error listing
them, unless --all. Several targets are frozen together and thawed together. An option
that takes one value given twice is a usage error.

Examples:
  treefreeze freeze 1234 --for 30s            freeze 1234 and its descendants for 30 seconds
  treefreeze freeze postgres --dry-run        show what freezing "postgres" would freeze
  treefreeze freeze :8080 --for 10s           freeze the server listening on port 8080
  treefreeze freeze 1234 --exclude 1240       ... but keep 1240 and its subtree running
  treefreeze freeze 1234 --children-only      freeze the workers, not the supervisor
  treefreeze freeze unit:db --for 10s         freeze a systemd unit with the kernel freezer
  id=$(treefreeze freeze db --detach --max-hold 10m)
                                              freeze in the background; treefreeze thaw $id ends it

Two phases, for a fleet (every host ready before any host freezes): with --prepare and
--until-stdin-closes, freeze checks the targets and starts its watchdogs, prints "prepared"
(--json: the prepared event), and stops nothing until a line reads "freeze" (or "freeze T":
only if it is not yet T, in ms since the epoch). A line "thaw", the end of the input or a stop
signal before it ends the hold unfrozen (exit 0); so does --prepare-timeout (exit 1). Any other
line is refused (exit 1; during the hold, it thaws first).
  ssh db1 treefreeze freeze postgres --prepare --until-stdin-closes --max-hold 5m --json
With --prepare and --detach, the prepared hold waits in the background and its id is printed:
treefreeze release <id> [--at T] freezes it (at T, by this host's clock), treefreeze thaw <id>
dismisses it unfrozen, and it exits unfrozen after --prepare-timeout.
  id=$(treefreeze freeze postgres --prepare --detach --max-hold 5m --prepare-timeout 2m)`,
    )
    .action((specs: string[], options: FreezeCliOptions) =>
      commands().then((run) => run.freeze(specs, options, argv, setExitCode)),
    );
}

export function addRunCommand(program: Command, argv: readonly string[], setExitCode: SetExitCode): void {
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
broken while the command ran, treefreeze exits 3; if it ended first (--max-hold, or the
tree exited), 4 (--keep-exit-code: the command's code). A last line says how it went.
The command must not need the frozen tree: a client of a frozen server (pg_dump,
psql, redis-cli) waits for it until the hold ends. Copy the server's files instead.

Examples:
  treefreeze run 1234 -- tar czf /backup/db.tgz /var/lib/db
  treefreeze run 1234 --timeout 2s -- cp -a /srv/state /srv/state.snapshot
  treefreeze run :5432 --max-hold 5m --json-fd 3 -- cp -a /var/lib/postgresql/15/main /backup/pg 3>events.jsonl
  treefreeze run --cgroup system.slice/redis-server.service -- cp -a /var/lib/redis /backup/redis`,
    )
    .action((operands: string[], options: FreezeCliOptions) =>
      commands().then((run) => run.run(operands, options, argv, setExitCode)),
    );
}

export function addThawCommand(program: Command): void {
  program
    .command('thaw')
    .description(
      'end a hold by its id, or resume every stopped process in the tree of each target, or thaw a cgroup',
    )
    .argument('[targets...]', `a hold id (tf-…, from freeze --detach or status), or ${TARGET_FORMS}`)
    .addOption(
      new Option(
        '--at <ms>',
        "thaw at this time (ms since the epoch), by the host's own clock: start early, thaw on time",
      ).argParser(parseEpochMs),
    )
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
}

export function addReleaseCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('release')
    .description('order a prepared hold (freeze --prepare --detach) to freeze, now or at a given time')
    .argument('<hold>', 'the prepared hold id (tf-…) that freeze --prepare --detach printed')
    .addOption(
      new Option('--at <ms>', "freeze at this time (ms since the epoch), by the host's own clock").argParser(
        parseEpochMs,
      ),
    )
    .addOption(
      new Option(
        '--within <duration>',
        "the order's deadline after --at (or now): refused if it reaches the hold later, rolled back if not frozen by then",
      )
        .argParser(parseDurationOption)
        .default(DEFAULT_RELEASE_WITHIN_MS, durationOptionText(DEFAULT_RELEASE_WITHIN_MS)),
    )
    .addOption(
      new Option(
        '--thaw-at <ms>',
        'once frozen, thaw at this time (ms since the epoch) as thaw <hold> would, from this same command',
      ).argParser(parseEpochMs),
    )
    .option('--json', "print the frozen event on stdout (and with --thaw-at the thaw's outcome)")
    .addHelpText(
      'after',
      `
Waits until the hold is frozen (then exits 0, printing what it froze) or failed (exit 1,
nothing frozen). A fleet agrees on one time T and releases every host with --at T: each
freezes at T by its own clock, however late the order went out (fleets keep their clocks
in step). The hold then goes on as freeze --detach does: treefreeze thaw <hold> ends it,
its lease (--max-hold) bounds it. With --thaw-at T2 this command then waits and thaws it at
T2 (after --at plus --within), printing the thaw's outcome too: a whole timed hold from one
command started before T. Ctrl-C (or SIGTERM, SIGHUP) then ends the hold at once: before
T it never freezes; exit 128 + the signal, 3 if the hold was broken.

Example:
  id=$(treefreeze freeze db --prepare --detach --max-hold 5m)
  treefreeze release $id --at $(( $(date +%s%3N) + 2000 ))
  treefreeze thaw $id`,
    )
    .action((id: string, options: ReleaseCliOptions) =>
      commands().then((run) => run.release(id, options, setExitCode)),
    );
}

export function addTreeCommand(program: Command): void {
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
}

export function addStatusCommand(program: Command): void {
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
}

export function addCompletionCommand(program: Command): void {
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
}

export function addDemoCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('demo')
    .description('a self-contained demonstration: freeze a sample workload and watch its heartbeats stop')
    .action(() => commands().then((run) => run.demo(setExitCode)));
}
