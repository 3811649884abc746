/**
 * What a freeze needs from the machine, in one object that is passed down rather than
 * set globally: the optional native calls and the shell the watchdog runs in. Tests pass
 * a variant (no koffi, a missing shell) to one freeze without touching any other.
 */
import { type Native, native } from './native.js';

export interface Platform {
  /** The native calls (pidfd, posix_spawn), or null to use the portable fallbacks. */
  readonly native: () => Native | null;
  /** The POSIX shell the watchdog runs in. */
  readonly watchdogShell: string;
}

export const defaultPlatform: Platform = Object.freeze({ native, watchdogShell: '/bin/sh' });
