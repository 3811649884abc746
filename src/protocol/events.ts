/**
 * The --json event protocol, typed once: what `treefreeze freeze --json` and `run --json`
 * write (one JSON object a line) and what the fleet helper reads. docs/events.schema.json
 * describes the same shapes for other languages; a test checks that the two agree.
 */
import type { FreezeBackend, HoldBreach, IdentityMethod, WatchdogEvent } from '../hold/frozen-tree.js';
import type { ProcessInfo, ProcessRecord } from '../tree/process.js';
import type { TargetKind } from '../tree/targets.js';

export type { HoldBreach, WatchdogEvent };

/** A target as events show it: as given, what kind, and what it resolved to. */
export interface TargetSummary {
  spec: string;
  kind: TargetKind;
  root: number | null;
  cgroup: string | null;
  label: string;
  pids?: readonly number[];
}

/** A frozen process as events show it. */
export type EventProcess = ProcessRecord;

export interface FrozenLine {
  event: 'frozen';
  at: number;
  command: 'freeze' | 'run';
  root: number | null;
  cgroup: string | null;
  childrenOnly: boolean;
  backend: FreezeBackend;
  identity: IdentityMethod;
  freezeMs: number;
  /** Date.now() when the last task was confirmed stopped: the hold covers work from here on. */
  frozenAt: number;
  rounds: number;
  processes: readonly EventProcess[];
  targets: readonly TargetSummary[];
  hold?: string;
  detached?: true;
  holder?: number;
}

export interface BreachLine {
  event: 'breach' | 'breach-ended';
  at: number;
  breach: HoldBreach;
}

export interface WatchdogLine {
  event: 'watchdog';
  at: number;
  watchdog: WatchdogEvent;
}

/** Why a command-line hold ended. */
export type HoldEndReason = 'timer' | 'signal' | 'lease' | 'caller' | 'stdin' | 'request' | 'exited';

export interface ThawedLine {
  event: 'thawed';
  at: number;
  command: 'freeze' | 'run';
  heldMs: number;
  intact: boolean;
  breaches: readonly HoldBreach[];
  resumedAncestors: readonly ProcessInfo[];
  watchdogEvents: readonly WatchdogEvent[];
  exitCode: number;
  thawReason?: HoldEndReason;
  signal?: string | null;
  argv?: readonly string[];
  commandExitCode?: number;
  exitSignal?: string | null;
  /** run only: whether the command ran entirely under an intact hold. */
  covered?: boolean;
  hold?: string;
}

export interface ErrorLine {
  event: 'error';
  at: number;
  code: string;
  message: string;
  pids: readonly number[];
}

export interface DryRunLine {
  event: 'dry-run';
  at: number;
  command: 'freeze' | 'run';
  targets: readonly TargetSummary[];
}

/** freeze --prepare: ready to freeze on an order; nothing is stopped. */
export interface PreparedLine {
  event: 'prepared';
  at: number;
  command: 'freeze';
  /** Every target, with the pids it names now. */
  targets: readonly TargetSummary[];
  prepareMs: number;
  /** How long the hold waits for the order to freeze before it exits without freezing. */
  freezeWithinMs: number;
  /** freeze --prepare --detach: the prepared hold's id (release <id>, thaw <id>) and its holder's pid. */
  hold?: string;
  detached?: true;
  holder?: number;
}

/** Why a prepared hold ended without an order to freeze. */
export type DismissReason = 'stdin' | 'signal' | 'request';

/** freeze --prepare: the hold ended before any order to freeze; nothing was frozen. */
export interface DismissedLine {
  event: 'dismissed';
  at: number;
  reason: DismissReason;
}

export type EventLine =
  | FrozenLine
  | BreachLine
  | WatchdogLine
  | ThawedLine
  | ErrorLine
  | DryRunLine
  | PreparedLine
  | DismissedLine;

/** An event as it is handed to the writer, which stamps `at`. */
export type UnstampedEvent<E extends EventLine = EventLine> = E extends EventLine ? Omit<E, 'at'> : never;

/** Reads one line of the protocol: an event, or null for anything else (a login banner). */
export function parseEventLine(line: string): EventLine | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  const known = [
    'frozen',
    'breach',
    'breach-ended',
    'watchdog',
    'thawed',
    'error',
    'dry-run',
    'prepared',
    'dismissed',
  ];
  if (typeof value !== 'object' || value === null) return null;
  return known.includes((value as { event?: unknown }).event as string) ? (value as EventLine) : null;
}
