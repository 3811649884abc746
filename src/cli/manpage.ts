/**
 * The manual page, treefreeze(1), generated from the command definitions and their --help
 * texts, so that it can never disagree with --help (a test compares them).
 */
import type { Command, Help } from 'commander';

/** roff: a backslash, or a line starting with . or ', must not be read as a request. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** The text a command adds after its option list in --help (examples, exit codes). */
function afterText(command: Command): string {
  let after = '';
  const capture = {
    writeOut: (text: string) => {
      after += text;
    },
    writeErr: () => {},
  };
  const full = command.configureOutput(capture).helpInformation();
  command.outputHelp(); // runs the 'after' hooks into `after`
  return after.slice(full.length).trim();
}

export function manPage(program: Command, version: string): string {
  const help: Help = program.createHelp();
  const lines = [
    `.TH TREEFREEZE 1 "" "treefreeze ${version}" "User Commands"`,
    '.SH NAME',
    `treefreeze \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
    ...program.commands.map((command) => `.B treefreeze ${command.name()}\n${roff(command.usage())}\n.br`),
    '.SH DESCRIPTION',
    roff(
      'treefreeze freezes every thread of every process in a tree (or a cgroup), confirms that each one is stopped, verifies the hold while it lasts, and always thaws it again: a watchdog thaws the tree even if treefreeze itself is killed.',
    ),
    '.SH COMMANDS',
  ];
  for (const command of program.commands) {
    lines.push(`.SS "${command.name()} ${roff(command.usage())}"`, roff(command.description()));
    for (const option of help.visibleOptions(command)) {
      lines.push('.TP', `.B ${roff(option.flags)}`, roff(help.optionDescription(option)));
    }
    const after = afterText(command);
    if (after) lines.push('.PP', '.nf', roff(after), '.fi');
  }
  const programAfter = afterText(program);
  if (programAfter) lines.push('.SH "EXIT STATUS"', '.nf', roff(programAfter), '.fi');
  lines.push('.SH SEE ALSO', 'kill(1), pstree(1), cgroups(7)');
  return `${lines.join('\n')}\n`;
}
