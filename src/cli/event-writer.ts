/**
 * --json: JSON Lines, one event a line, written as things happen (docs/events.schema.json).
 * freeze writes them on stdout; run on --json-fd only, so that they never mix with its
 * command's output. A reader that went away ends nothing: the events are dropped.
 */
import { writeSync } from 'node:fs';
import type { FrozenTree, HoldEvent } from '../hold/frozen-tree.js';
import type {
  BreachLine,
  FrozenLine,
  TargetSummary,
  ThawedLine,
  UnstampedEvent,
  WatchdogLine,
} from '../protocol/events.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { jsonLine } from './printable.js';

/** Writes one event, stamped with `at`. */
export type EventSink = (event: UnstampedEvent) => void;

export function eventSink(fd: number): EventSink {
  let open = true;
  return (event) => {
    if (!open) return;
    try {
      writeSync(fd, jsonLine({ ...event, at: Date.now() }));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
      open = false;
    }
  };
}

/** A target as events show it: as given, what kind, and what it resolved to. */
export function targetSummary(target: ResolvedTarget): TargetSummary {
  return {
    spec: target.spec,
    kind: target.kind,
    root: target.root ?? null,
    cgroup: target.cgroup ?? null,
    label: target.label,
  };
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The "frozen" event: what was frozen, how, and how long it took. */
export function frozenEvent(
  command: 'freeze' | 'run',
  target: { targets: readonly ResolvedTarget[]; childrenOnly: boolean },
  frozen: FrozenTree,
): UnstampedEvent<FrozenLine> {
  const [only] = target.targets.length === 1 ? target.targets : [];
  return {
    event: 'frozen',
    command,
    root: only?.root ?? null,
    cgroup: only?.cgroup ?? null,
    targets: target.targets.map(targetSummary),
    childrenOnly: target.childrenOnly,
    backend: frozen.backend,
    identity: frozen.identity,
    freezeMs: round(frozen.durationMs),
    frozenAt: frozen.frozenAt,
    rounds: frozen.rounds,
    processes: frozen.processes.map(({ pid, ppid, comm, threads, startTime, wasStopped, traced }) => ({
      pid,
      ppid,
      comm,
      threads,
      startTime,
      wasStopped,
      traced,
    })),
  };
}

/** A breach, its end, or something that happened to the watchdog, as it happens. */
export function holdEvent(event: HoldEvent): UnstampedEvent<BreachLine | WatchdogLine> {
  return event.type === 'watchdog'
    ? { event: 'watchdog', watchdog: event.watchdog }
    : { event: event.type, breach: event.breach };
}

/**
 * How long a hold held: from the moment its last task was confirmed stopped to the moment its
 * thaw ended (now, while it holds). Not from when the caller got to look: under load that
 * comes late, and a hold reported shorter than it was hides a stall.
 */
export function heldMs(frozen: FrozenTree): number {
  return Math.max(0, (frozen.endedAt ?? Date.now()) - frozen.frozenAt);
}

/** The "thawed" event: how the hold went and how it ended. */
export function thawedEvent(
  command: 'freeze' | 'run',
  frozen: FrozenTree,
  heldMs: number,
  ending: Pick<ThawedLine, 'exitCode'> & Partial<Omit<ThawedLine, 'event' | 'at' | 'command' | 'heldMs'>>,
): UnstampedEvent<ThawedLine> {
  return {
    event: 'thawed',
    command,
    heldMs: round(heldMs),
    intact: frozen.intact,
    breaches: frozen.breaches,
    resumedAncestors: frozen.resumedAncestors,
    watchdogEvents: frozen.watchdogEvents,
    ...ending,
  };
}
