/**
 * A single-value option given twice (`--timeout 1s --timeout 5s`) is a usage error: quietly
 * taking the last one guesses which the person meant, and a script that builds a command line
 * from pieces hides a mistake that way. Options that collect (`--exclude`) may repeat, and so
 * may switches, which say the same thing twice.
 */
import type { Command } from 'commander';

export function refuseRepeatedOptions(command: Command, repeatable: ReadonlySet<string>): void {
  for (const option of command.options) {
    const takesValue = option.required || option.optional;
    if (!takesValue || option.variadic || repeatable.has(option.name())) continue;
    let given = 0;
    command.on(`option:${option.name()}`, () => {
      given++;
      if (given > 1) {
        command.error(`option '${option.long ?? option.flags}' given twice: give it once`, {
          code: 'commander.repeatedOption',
        });
      }
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub, repeatable);
}
