/**
 * Shell completion scripts, generated from the command definitions themselves so they can
 * never disagree with --help: subcommands, each one's options, the values of options that
 * take a fixed set; where a target goes, process names and ids, and for thaw the hold ids
 * (asked of `treefreeze __complete <command>`, complete-operands.ts); after run's `--`, the
 * command to run and then that command's own completion.
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface CommandModel {
  name: string;
  description: string;
  /** What the first operand is: a target (most commands), a fixed set (completion), or nothing (demo). */
  operand: 'target' | readonly string[] | null;
  options: { flag: string; takesValue: boolean; choices: readonly string[]; description: string }[];
}

function model(program: Command): CommandModel[] {
  return program.commands.map((command) => ({
    name: command.name(),
    description: command.description(),
    operand: operandOf(command),
    options: [
      ...command.options.map((option) => ({
        flag: option.long as string,
        takesValue: option.required || option.optional,
        choices: option.argChoices ?? [],
        description: option.description,
      })),
      { flag: '--help', takesValue: false, choices: [], description: 'display help for command' },
    ],
  }));
}

function operandOf(command: Command): CommandModel['operand'] {
  const first = command.registeredArguments[0];
  if (!first) return null;
  return first.argChoices ?? (['pid', 'targets'].includes(first.name()) ? 'target' : null);
}

export function completionScript(shell: Shell, program: Command): string {
  const commands = model(program);
  if (shell === 'bash') return bash(commands);
  if (shell === 'zsh')
    return `#compdef treefreeze\n# treefreeze completion for zsh: eval "$(treefreeze completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash(commands)}`;
  return fish(commands);
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bash(commands: CommandModel[]): string {
  const cases = commands
    .map((command) => {
      const valued = command.options.filter((option) => option.takesValue);
      const values = valued
        .map((option) =>
          option.choices.length > 0
            ? `        ${option.flag}) COMPREPLY=($(compgen -W ${quote(option.choices.join(' '))} -- "$cur")); return ;;`
            : `        ${option.flag}) return ;;`,
        )
        .join('\n');
      const operand =
        command.operand === 'target'
          ? `target=${command.name}`
          : `operands=${quote((command.operand ?? []).join(' '))}`;
      return [
        `    ${command.name})`,
        `      opts=${quote(command.options.map((option) => option.flag).join(' '))}`,
        `      ${operand}`,
        valued.length > 0 ? `      case "$prev" in\n${values}\n      esac` : '',
        '      ;;',
      ]
        .filter(Boolean)
        .join('\n');
    })
    .join('\n');
  return `# treefreeze completion for bash: eval "$(treefreeze completion bash)"
_treefreeze() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts='' operands='' target=''
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quote(`${commands.map((command) => command.name).join(' ')} --help --version`)} -- "$cur"))
    return
  fi
  if [ "\${COMP_WORDS[1]}" = run ]; then
    # After --: the command to run, then that command's own completion (bash-completion's
    # _command_offset, where it is installed), else file names.
    local i
    for ((i = 2; i < COMP_CWORD; i++)); do
      [ "\${COMP_WORDS[i]}" = -- ] || continue
      if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
        COMPREPLY=($(compgen -c -- "$cur" | sort -u))
      elif declare -F _command_offset >/dev/null; then
        _command_offset $((i + 1))
      else
        COMPREPLY=($(compgen -f -- "$cur"))
      fi
      return
    done
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    # Targets (names, pids; hold ids for thaw) are asked of treefreeze itself, only when needed.
    [ -z "$target" ] || operands="$(command "\${COMP_WORDS[0]}" __complete "$target" 2>/dev/null)"
    COMPREPLY=($(compgen -W "$operands" -- "$cur"))
  fi
}
complete -F _treefreeze treefreeze
`;
}

function fish(commands: CommandModel[]): string {
  const targets = commands.filter((command) => command.operand === 'target').map((command) => command.name);
  const lines = [
    '# treefreeze completion for fish: treefreeze completion fish | source',
    'complete -c treefreeze -f',
    // After run's --: the command to run and its own completion, as if typed alone.
    'function __treefreeze_after_dashdash',
    '    contains -- -- (commandline -opc)',
    'end',
    'function __treefreeze_command',
    '    set -l words (commandline -opc) (commandline -ct)',
    '    set -l at (contains -i -- -- $words)',
    '    complete -C (string join -- " " (string escape -- $words[(math $at + 1)..-1]))',
    'end',
    'function __treefreeze_operands',
    '    set -l words (commandline -opc)',
    '    command $words[1] __complete $words[2] 2>/dev/null',
    'end',
    ...commands.map(
      (command) =>
        `complete -c treefreeze -n __fish_use_subcommand -a ${command.name} -d ${quote(command.description)}`,
    ),
    `complete -c treefreeze -n '__fish_seen_subcommand_from ${targets.join(' ')}; and not __treefreeze_after_dashdash' -a '(__treefreeze_operands)'`,
    "complete -c treefreeze -n '__fish_seen_subcommand_from run; and __treefreeze_after_dashdash' -a '(__treefreeze_command)'",
  ];
  for (const command of commands) {
    if (Array.isArray(command.operand)) {
      lines.push(
        `complete -c treefreeze -n '__fish_seen_subcommand_from ${command.name}' -a ${quote(command.operand.join(' '))}`,
      );
    }
    for (const option of command.options) {
      const values =
        option.choices.length > 0
          ? ` -x -a ${quote(option.choices.join(' '))}`
          : option.takesValue
            ? ' -r'
            : '';
      lines.push(
        `complete -c treefreeze -n '__fish_seen_subcommand_from ${command.name}; and not __treefreeze_after_dashdash' -l ${option.flag.slice(2)}${values} -d ${quote(option.description)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
