/** The command line: a thin layer over the library (argument parsing, output, exit codes). */

import { Command, CommanderError } from 'commander';
import { FreezeError } from '../base/errors.js';
import { eventSink } from './event-writer.js';
import { EXIT } from './exit-codes.js';
import { printable } from './printable.js';
import { refuseRepeatedOptions } from './repeated-options.js';
import {
  addCompletionCommand,
  addDemoCommand,
  addFreezeCommand,
  addReleaseCommand,
  addRunCommand,
  addStatusCommand,
  addThawCommand,
  addTreeCommand,
  type SetExitCode,
} from './subcommands.js';
import { packageVersion } from './version.js';

export { EXIT };

export function buildProgram(setExitCode: SetExitCode, argv: readonly string[] = process.argv): Command {
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
or 3 if the hold was broken while it ran, 4 if it ended before the command did
(--max-hold, or the tree exited); --keep-exit-code: the command's code anyway.`,
    );
  addFreezeCommand(program, argv, setExitCode);
  addRunCommand(program, argv, setExitCode);
  addThawCommand(program);
  addReleaseCommand(program, setExitCode);
  addTreeCommand(program);
  addStatusCommand(program);
  addCompletionCommand(program);
  addDemoCommand(program, setExitCode);
  refuseRepeatedOptions(program, new Set(['exclude']));
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

/** --json (or --json-fd, which implies it) among treefreeze's own arguments (not run's command after `--`). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  const own = end < 0 ? argv : argv.slice(0, end);
  return own.includes('--json') || own.some((word) => word === '--json-fd' || word.startsWith('--json-fd='));
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
