/**
 * The command line's runtime directory: where a user's holds are registered (a record and a
 * socket per hold). It is used only when it is the user's alone — owned by them, a real
 * directory, writable by nobody else, in a parent nobody else can swap it out of — because
 * whoever can write there could plant a record or a socket, or delete the user's own.
 * Missing, it is created 0700 (mkdir is atomic: it fails rather than reuse what another
 * user made first). Anything else is refused, saying what to fix.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { errnoCode, FreezeError } from '../base/errors.js';

export interface RuntimeDir {
  path: string;
  /** Who owns it: the user whose holds live in it. */
  uid: number;
}

const STICKY = 0o1000;

/** The user this process acts as: whose runtime directory and holds are its own. */
export function myUid(): number {
  return process.geteuid?.() ?? 0;
}

/** The directory TREEFREEZE_RUNTIME_DIR names, if it names one. */
function chosenRuntimeDir(): string | undefined {
  const chosen = process.env.TREEFREEZE_RUNTIME_DIR;
  return chosen === undefined || chosen === '' ? undefined : chosen;
}

/**
 * This user's directory, unchecked: TREEFREEZE_RUNTIME_DIR; else /run/treefreeze for root;
 * else $XDG_RUNTIME_DIR/treefreeze, else /run/user/<uid>/treefreeze where the system made that
 * directory for the user; else a directory of the user's own in the temporary directory,
 * treefreeze-<uid> (never one directory shared by every user).
 */
export function runtimeDirPath(): string {
  const chosen = chosenRuntimeDir();
  if (chosen !== undefined) return chosen;
  const uid = myUid();
  if (uid === 0) return '/run/treefreeze';
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'treefreeze');
  const systemd = `/run/user/${uid}`;
  if (lstatOrNull(systemd)?.uid === uid) return join(systemd, 'treefreeze');
  return join(tmpdir(), `treefreeze-${uid}`);
}

/** Where other users' runtime directories are: root's status and thaw look there. */
export const USERS_RUNTIME_BASE = '/run/user';

/** Whether root looks at other users' holds: not when given a registry of its own to use. */
export function looksAtOtherUsers(): boolean {
  return myUid() === 0 && chosenRuntimeDir() === undefined;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why `path` is not a safe directory of `uid`'s holds, or null when it is. */
export function runtimeDirProblem(path: string, uid: number): string | null {
  const stat = lstatOrNull(path);
  if (stat === null) return `${path} does not exist`;
  return directoryProblem(path, stat, uid);
}

/** Why a directory with this (l)stat is not safely `uid`'s alone, or null. */
function directoryProblem(path: string, stat: Stats, uid: number): string | null {
  if (stat.isSymbolicLink()) return `${path} is a symbolic link: use a real directory`;
  if (!stat.isDirectory()) return `${path} is not a directory`;
  if (stat.uid !== uid)
    return `${path} belongs to uid ${stat.uid}, not to uid ${uid}: remove it or choose another`;
  if ((stat.mode & 0o022) !== 0) {
    return `${path} is writable by others (mode ${octal(stat.mode)}): chmod 700 ${path}`;
  }
  // Whoever owns the parent, or may write it without the sticky bit, can swap the directory.
  const parent = lstatOrNull(dirname(path));
  if (parent !== null && parent.uid !== uid && parent.uid !== 0) {
    return `${dirname(path)} belongs to uid ${parent.uid}, who could replace ${path}: choose a directory of yours`;
  }
  if (parent !== null && (parent.mode & 0o022) !== 0 && (parent.mode & STICKY) === 0) {
    return `${dirname(path)} lets others rename or replace ${path} (mode ${octal(parent.mode)}, no sticky bit)`;
  }
  return null;
}

/**
 * Opens `uid`'s directory `path` once, without following a link, and checks what was opened:
 * whatever is then read through the returned path (/proc/self/fd/<n>) is that directory, even
 * if its owner swaps names meanwhile. Call close() when done.
 */
export function openDirectoryOf(
  path: string,
  uid: number,
): { path: string; close: () => void } | { problem: string; missing: boolean } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = errnoCode(error);
    const missing = code === 'ENOENT';
    return { problem: missing ? `${path} does not exist` : `cannot open ${path} (${code})`, missing };
  }
  let problem: string | null;
  try {
    problem = directoryProblem(path, fstatSync(fd), uid);
  } catch (error) {
    problem = `cannot inspect ${path} (${errnoCode(error)})`;
  }
  if (problem !== null) {
    closeSync(fd);
    return { problem, missing: false };
  }
  return { path: `/proc/self/fd/${fd}`, close: () => closeSync(fd) };
}

/** This user's runtime directory, created (0700) when missing; UNSAFE_RUNTIME_DIR when unsafe. */
export function openRuntimeDir(): RuntimeDir {
  const path = runtimeDirPath();
  const uid = myUid();
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EEXIST') {
      throw new FreezeError(
        'UNSAFE_RUNTIME_DIR',
        `cannot create the runtime directory ${path} (${code ?? String(error)}): set TREEFREEZE_RUNTIME_DIR to a directory of yours`,
      );
    }
  }
  return checkedRuntimeDir(path, uid);
}

/** This user's runtime directory if it exists and is safe; null when missing; UNSAFE_RUNTIME_DIR when unsafe. */
export function existingRuntimeDir(): RuntimeDir | null {
  const path = runtimeDirPath();
  if (lstatOrNull(path) === null) return null;
  return checkedRuntimeDir(path, myUid());
}

function checkedRuntimeDir(path: string, uid: number): RuntimeDir {
  const problem = runtimeDirProblem(path, uid);
  if (problem !== null) {
    throw new FreezeError(
      'UNSAFE_RUNTIME_DIR',
      `refusing the runtime directory: ${problem} (or set TREEFREEZE_RUNTIME_DIR to a directory of yours)`,
    );
  }
  return { path, uid };
}
