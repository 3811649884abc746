/**
 * Shell completion scripts, generated from the command definitions themselves so they can
 * never disagree with --help: subcommands, each one's options, the values of options that
 * take a fixed set, and process ids where a pid goes.
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface CommandModel {
  name: string;
  description: string;
  /** What the first operand is: a pid (most commands), a fixed set (completion), or nothing (demo). */
  operand: 'pid' | readonly string[] | null;
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
  return first.argChoices ?? (['pid', 'targets'].includes(first.name()) ? 'pid' : null);
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
        command.operand === 'pid'
          ? '"$(cd /proc && printf \'%s \' [0-9]*)"'
          : quote((command.operand ?? []).join(' '));
      return [
        `    ${command.name})`,
        `      opts=${quote(command.options.map((option) => option.flag).join(' '))}`,
        `      operands=${operand}`,
        valued.length > 0 ? `      case "$prev" in\n${values}\n      esac` : '',
        '      ;;',
      ]
        .filter(Boolean)
        .join('\n');
    })
    .join('\n');
  return `# treefreeze completion for bash: eval "$(treefreeze completion bash)"
_treefreeze() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" opts='' operands=''
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${quote(`${commands.map((command) => command.name).join(' ')} --help --version`)} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$operands" -- "$cur"))
  fi
}
complete -F _treefreeze treefreeze
`;
}

function fish(commands: CommandModel[]): string {
  const lines = [
    '# treefreeze completion for fish: treefreeze completion fish | source',
    'complete -c treefreeze -f',
    ...commands.map(
      (command) =>
        `complete -c treefreeze -n __fish_use_subcommand -a ${command.name} -d ${quote(command.description)}`,
    ),
  ];
  for (const command of commands) {
    for (const option of command.options) {
      const values =
        option.choices.length > 0
          ? ` -x -a ${quote(option.choices.join(' '))}`
          : option.takesValue
            ? ' -r'
            : '';
      lines.push(
        `complete -c treefreeze -n '__fish_seen_subcommand_from ${command.name}' -l ${option.flag.slice(2)}${values} -d ${quote(option.description)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
