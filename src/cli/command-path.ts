/**
 * Finding `run`'s command before anything is frozen: a command that does not exist (or
 * may not be executed) must not cost the tree a freeze. Looked up as execvp(3) would:
 * a name with a slash as given, else along $PATH.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type CommandLookup = { found: string } | { missing: true } | { notExecutable: string };

export function findCommand(file: string, path = process.env.PATH ?? ''): CommandLookup {
  const candidates = file.includes('/') ? [file] : path.split(delimiter).map((dir) => join(dir || '.', file));
  let notExecutable: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue; // not there
    }
    try {
      accessSync(candidate, constants.X_OK);
      return { found: candidate };
    } catch {
      notExecutable ??= candidate;
    }
  }
  return notExecutable ? { notExecutable } : { missing: true };
}
