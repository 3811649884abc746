/**
 * Closing a file descriptor whose close cannot usefully fail. The error is ignored, not the
 * duty: each caller closes a descriptor once and forgets its number, because a second close
 * of the same number would close whatever file has taken it meanwhile (see closeOnce in
 * watchdog/spawn.ts for what that once did).
 */
import { closeSync } from 'node:fs';

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to do: the descriptor is gone either way
  }
}
