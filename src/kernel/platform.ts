/**
 * What a freeze needs from the machine, in one object that is passed down rather than
 * set globally: the optional native calls and the shell the watchdog runs in. Tests pass
 * a variant (no koffi, a missing shell) to one freeze without touching any other.
 */
import { type Native, native } from './native.js';
import { type NativeCore, nativeCore } from './native-core.js';

export interface Platform {
  /** The native calls (pidfd, posix_spawn), or null to use the portable fallbacks. */
  readonly native: () => Native | null;
  /**
   * The native core (the loops of a large freeze in C), or null for the TypeScript path.
   * Left out: the default one, where the native calls load (it is loaded through koffi too).
   */
  readonly core?: (() => NativeCore | null) | undefined;
  /** The POSIX shell the watchdog runs in. */
  readonly watchdogShell: string;
}

export const defaultPlatform: Platform = Object.freeze({
  native,
  core: nativeCore,
  watchdogShell: '/bin/sh',
});

/** @internal The platform's native core: none without the native calls (both need koffi). */
export function coreOf(platform: Platform): NativeCore | null {
  if (platform.native() === null) return null;
  return (platform.core ?? nativeCore)();
}
